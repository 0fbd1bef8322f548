# Two entry points: `make demo` (the main job on a built-in dataset, beside a raw-pixel baseline;
# BENCHMARKS.md, "make demo") and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench clean chromium

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 \
	$(BIN)/python bench/demo.py -- mnist5k --input-size 96 --budget 2m --out runs/demo --resume

test: $(STAMP) chromium
	$(BIN)/python -m pytest --durations=15

# The report's browser test needs headless Chromium (Debian's package). Installed when missing;
# where it cannot be (not root, no apt, no registry) the test is skipped, and the build goes on.
chromium:
	@command -v chromium >/dev/null 2>&1 \
	|| DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
	|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	|| echo "chromium unavailable: the browser test of the HTML report will be skipped"

bench: $(STAMP)
	$(BIN)/python bench/allocator.py

clean:
	rm -rf runs .pytest_cache
