"""Named ImageNet CNNs behind one interface, with weights resolution and preprocessing."""

from .backbone import Backbone
from .choice import BackboneChoice
from .classes import imagenet_class_names
from .factory import create_backbone
from .preprocessing import Preprocessing
from .registry import BackboneSpec, get_backbone_spec, list_backbones, register_backbone
from .taps import capture, forward_until, resolve_layer
from .weights import offline_weights_available, read_state_dict

__all__ = [
    "Backbone",
    "BackboneChoice",
    "BackboneSpec",
    "Preprocessing",
    "capture",
    "create_backbone",
    "forward_until",
    "imagenet_class_names",
    "get_backbone_spec",
    "list_backbones",
    "offline_weights_available",
    "read_state_dict",
    "register_backbone",
    "resolve_layer",
]
