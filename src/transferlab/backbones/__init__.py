"""Named ImageNet CNNs behind one interface, with weights resolution and preprocessing."""

from .backbone import Backbone
from .choice import BackboneChoice
from .classes import imagenet_class_names
from .factory import create_backbone
from .hooks import HookError, capture, forward_until, hooked, live_hooks, resolve_layer
from .preprocessing import Preprocessing
from .registry import get_backbone_spec, list_backbones, register_backbone
from .spec import BackboneSpec
from .weights import offline_weights_available, read_state_dict

__all__ = [
    "Backbone",
    "BackboneChoice",
    "BackboneSpec",
    "HookError",
    "Preprocessing",
    "capture",
    "create_backbone",
    "forward_until",
    "imagenet_class_names",
    "get_backbone_spec",
    "hooked",
    "list_backbones",
    "live_hooks",
    "offline_weights_available",
    "read_state_dict",
    "register_backbone",
    "resolve_layer",
]
