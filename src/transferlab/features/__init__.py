"""Feature extraction with an on-disk cache, and linear probes on the features."""

from .cache import AugmentedView, FeatureSet, cached_features, feature_key
from .extract import ExtractionOptions, extract_features
from .probes import ProbeResult, fit_probe, probe_to_head

__all__ = [
    "AugmentedView",
    "ExtractionOptions",
    "FeatureSet",
    "ProbeResult",
    "cached_features",
    "extract_features",
    "feature_key",
    "fit_probe",
    "probe_to_head",
]
