"""Class names of the ImageNet heads (timm ships the 1,000 descriptions: no network)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4)
def imagenet_class_names(num_classes: int = 1000) -> tuple[str, ...]:
    """The ImageNet-1k descriptions for a 1000-way head, else `class 0`, `class 1`, ..."""
    if num_classes != 1000:
        return tuple(f"class {i}" for i in range(num_classes))
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_description(i) for i in range(1000))
