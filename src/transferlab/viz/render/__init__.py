"""Drawing to PNG files: the only package in transferlab that imports matplotlib.

Every function builds its own `matplotlib.figure.Figure` on an Agg canvas (never pyplot, so no
global figure registry, backend switch or open window), writes it atomically (temp file in the
same folder, then `os.replace`) and returns the output path. Inputs are plain data computed
elsewhere (`evaluation`, `features`, `viz` compute modules). One module per topic.
"""

from .calibration import plot_reliability
from .grids import plot_bar_table, plot_image_grid
from .training import plot_confusion, plot_curves

__all__ = ["plot_bar_table", "plot_confusion", "plot_curves", "plot_image_grid", "plot_reliability"]
