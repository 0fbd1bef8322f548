"""transferlab: image classification with CNNs and transfer learning."""

from .backbones import Backbone, Preprocessing, create_backbone, list_backbones
from .errors import BadImageError, DataError, TransferlabError, UnknownNameError, WeightsError

__version__ = "0.1.0"

__all__ = [
    "Backbone",
    "BadImageError",
    "DataError",
    "Preprocessing",
    "TransferlabError",
    "UnknownNameError",
    "WeightsError",
    "create_backbone",
    "list_backbones",
]
