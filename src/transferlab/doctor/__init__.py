"""Data checkup: duplicates, leaks between splits, likely label errors and outliers, from cached features."""

from .checkup import DoctorOptions, check_splits, checkup
from .clean import clean_rows, write_clean
from .findings import EXACT, KINDS, LABEL, NEAR, OUTLIER, Checkup, Finding, ThresholdCheck

__all__ = [
    "EXACT",
    "KINDS",
    "LABEL",
    "NEAR",
    "OUTLIER",
    "Checkup",
    "DoctorOptions",
    "Finding",
    "ThresholdCheck",
    "check_splits",
    "checkup",
    "clean_rows",
    "write_clean",
]
