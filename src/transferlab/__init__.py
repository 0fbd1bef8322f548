"""transferlab: image classification with CNNs and transfer learning."""

from .backbones import Backbone, BackboneChoice, Preprocessing, create_backbone, list_backbones
from .errors import BadImageError, DataError, TransferlabError, UnknownNameError, WeightsError

__version__ = "0.1.0"

_VERBS = ("train", "evaluate", "predict", "extract", "export", "load", "Model")


def __getattr__(name: str):
    # The verbs import the whole stack (strategies, scikit-learn, matplotlib); load them on first use
    # so `import transferlab` stays light.
    if name in _VERBS:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'transferlab' has no attribute '{name}'")

__all__ = [
    "Backbone",
    "BackboneChoice",
    "BadImageError",
    "DataError",
    "Preprocessing",
    "TransferlabError",
    "UnknownNameError",
    "WeightsError",
    "create_backbone",
    "evaluate",
    "export",
    "extract",
    "list_backbones",
    "load",
    "Model",
    "predict",
    "train",
]
