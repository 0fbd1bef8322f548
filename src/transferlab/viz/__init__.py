"""Seeing inside models and results; `render` is where everything is drawn to PNG files.

Compute functions return data (arrays and small dataclasses); each figure has a `plot_*`
function in `render` that draws it:

=============================  ===================================  =============================
question                       compute                              draw
=============================  ===================================  =============================
what does a layer output?      `activation_maps`                    `plot_activation_grid`
what did a layer learn?        `conv_filters`, `synthesise_channels`  `plot_filters`, `plot_image_grid`
where is the evidence?         `class_activation_maps`              `plot_gradcam`, `heatmap_overlay`
what does a class look like?   `synthesise_class`, `class_representatives`  `plot_class_maximisation`
what does a pixel unit see?    `receptive_fields`                   (a table: `transferlab summary`)
what does a kernel do?         `kernel_gallery`                     `plot_kernel_gallery`
=============================  ===================================  =============================
"""

from .activations import ActivationGrid, activation_maps
from .classmax import Synthesis, SynthesisSettings, synthesise_channels, synthesise_class
from .filters import FilterBank, conv_filters
from .gradcam import CAM_METHODS, BaseCAM, CamResult, GradCAM, GradCAMPlusPlus, HiResCAM, class_activation_maps
from .kernels import NAMED_KERNELS, FilteredImage, apply_kernel, choose_kernels, kernel_gallery, parse_kernel
from .layers import default_layer, layer_root
from .receptive_field import LayerReceptiveField, ReceptiveField, receptive_field_of, receptive_fields
from .render import plot_bar_table, plot_confusion, plot_curves, plot_image_grid
from .render.attribution import heatmap_overlay, plot_class_maximisation, plot_gradcam
from .render.inside import plot_activation_grid, plot_filters, plot_kernel_gallery
from .representatives import Representative, class_representatives, score_images
from .sources import PreparedImage, VizSubject, load_subject, prepare_image, resolve_class

__all__ = [
    "CAM_METHODS",
    "NAMED_KERNELS",
    "ActivationGrid",
    "BaseCAM",
    "CamResult",
    "FilterBank",
    "FilteredImage",
    "GradCAM",
    "GradCAMPlusPlus",
    "HiResCAM",
    "LayerReceptiveField",
    "PreparedImage",
    "ReceptiveField",
    "Representative",
    "Synthesis",
    "SynthesisSettings",
    "VizSubject",
    "activation_maps",
    "apply_kernel",
    "choose_kernels",
    "class_activation_maps",
    "class_representatives",
    "conv_filters",
    "default_layer",
    "heatmap_overlay",
    "kernel_gallery",
    "layer_root",
    "load_subject",
    "parse_kernel",
    "plot_activation_grid",
    "plot_bar_table",
    "plot_class_maximisation",
    "plot_confusion",
    "plot_curves",
    "plot_filters",
    "plot_gradcam",
    "plot_image_grid",
    "plot_kernel_gallery",
    "prepare_image",
    "receptive_field_of",
    "receptive_fields",
    "resolve_class",
    "score_images",
    "synthesise_channels",
    "synthesise_class",
]
