"""The `transferlab` command line: one thin module per subcommand (see `main.py`)."""
