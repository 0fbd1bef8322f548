"""The report's sections, in order: (key, title, builder).

A builder takes a `RunData` and returns a list of blocks, or None when the section does not apply
to the run (no test split, no top losses). Builders are independent: each reads what it needs
from the run directory, and a failing one costs only its own section. Adding a section is one
function and one line here.
"""

from __future__ import annotations

from .augmentation import augmentation
from .calibration import calibration
from .data_check import data_check
from .inside import activations, class_images, filters, gradcam
from .meta import environment, timings
from .model import model
from .results import curves, test, top_losses, validation
from .run import data_summary, overview, strategy

SECTIONS = (
    ("overview", "Overview", overview),
    ("data", "Data", data_summary),
    ("strategy", "Strategy", strategy),
    ("augmentation", "Augmentation", augmentation),
    ("model", "Model", model),
    ("curves", "Training curves", curves),
    ("validation", "Validation results", validation),
    ("test", "Test results", test),
    ("calibration", "Calibration and the unknown flag", calibration),
    ("top-losses", "Top losses", top_losses),
    ("data-check", "Data check", data_check),
    ("gradcam", "Where the model looked (Grad-CAM)", gradcam),
    ("activations", "Activation maps", activations),
    ("filters", "Filters", filters),
    ("class-images", "Class images", class_images),
    ("timings", "Timings", timings),
    ("environment", "Environment", environment),
)

__all__ = ["SECTIONS"]
