"""Seeing inside models and results; `render` is where everything is drawn to PNG files."""

from .render import plot_bar_table, plot_confusion, plot_curves, plot_image_grid

__all__ = [
    "plot_bar_table",
    "plot_confusion",
    "plot_curves",
    "plot_image_grid",
]
