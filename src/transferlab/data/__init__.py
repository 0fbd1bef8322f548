"""Datasets: folder/CSV/built-in sources, safe decoding, tensor transforms."""

from .builtin import BUILTIN_DATASETS, builtin_folder
from .dataset import DecodedDataset
from .decode import DecodedImages, decode_images, decode_one
from .images import open_rgb
from .scan import DataSplits, ImageSet, Skipped
from .sources import load_splits
from .transforms import eval_transform, normalise

__all__ = [
    "BUILTIN_DATASETS",
    "DataSplits",
    "DecodedDataset",
    "DecodedImages",
    "ImageSet",
    "Skipped",
    "builtin_folder",
    "decode_images",
    "decode_one",
    "eval_transform",
    "load_splits",
    "normalise",
    "open_rgb",
]
