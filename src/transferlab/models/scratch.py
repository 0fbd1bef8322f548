"""Small CNNs from a short spec string, as the course notes build them with Keras' `Sequential`.

Grammar
-------
A spec is tokens separated by ``-`` (``conv64-pool-conv64-pool-flatten-dense128-dropout0.5``),
or a list of tokens (a YAML/JSON list). Case and surrounding spaces are ignored.

==================  ==========================================================  ==========================
token               layer                                                       module name
==================  ==========================================================  ==========================
``conv<F>``         Conv2d, F filters, 3x3, stride 1, padding 'same', then ReLU  ``conv2d_<i>``
``  ...k<K>``       kernel KxK: ``conv64k5``
``  ...s<S>``       stride S: ``conv64s2``
``  ...v``          padding 'valid' (Keras' default): ``conv64v``; options combine: ``conv96k3s2v``
``pool[<N>]``       MaxPool2d(N), N = 2 if omitted: ``pool``, ``pool3``          ``max_pooling2d_<i>``
``avgpool[<N>]``    AvgPool2d(N)                                                ``average_pooling2d_<i>``
``bn``              BatchNorm2d before flatten/gap, BatchNorm1d after            ``batch_normalization_<i>``
``dropout<P>``      Dropout(P), 0 <= P < 1: ``dropout0.5``                       ``dropout_<i>``
``flatten``         flatten the maps (the next layer's size depends on input)   ``flatten``
``gap``             global average pooling                                      ``global_average_pooling2d``
``dense<N>``        Linear with N units, then ReLU (after flatten/gap)          ``dense_<i>``
``convhead``        the classifier is a 1x1 conv on the maps, before ``gap``    ``classifier``
==================  ==========================================================  ==========================

Rules:
    * The classifier, Linear(num_classes) named ``classifier``, is always appended; it outputs
      logits (the softmax of the notes' last `Dense` lives in the loss).
    * At most one ``flatten`` or ``gap``. Conv and pool layers come before it, dense layers after.
      A spec without either gets a ``gap`` before its first ``dense`` (or at the end).
    * ``convhead`` (the notes' All-Convolutional net: ``Conv2D(10, 1x1) -> GlobalAveragePooling2D``)
      makes the classifier a 1x1 Conv2d to num_classes, without ReLU, followed by the ``gap``;
      only ``gap`` may follow it (added if missing). It has the same parameters as gap + Linear
      and, both being linear, computes the same function; taps then see the class maps.
    * ReLU is built into ``conv`` and ``dense``; there is no ``relu`` token.
    * 'same' pads (K-1)/2 on each side: Keras' output size (ceil(S / stride)), but with a stride
      Keras pads bottom/right only. An even kernel with a stride therefore needs ``v``.

The built `ScratchCNN` has timm's interface (`forward_features`, `forward_head`,
`reset_classifier`): `features` holds the conv part, `pre_logits` the flatten/gap and dense
layers, `classifier` the last layer, so `Backbone(include_top=False)` drops the dense layers
as Keras does. Its modules read like the notes' summaries: ``features.conv2d_1``,
``features.max_pooling2d_1``, ``pre_logits.flatten``, ``pre_logits.dense_1``, ``classifier``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import Backbone, BackboneSpec, Preprocessing
from ..backbones.weights import build_with_weights
from ..errors import TransferlabError, WeightsError

VALID_FORMS = (
    "conv<F>[k<K>][s<S>][v], pool[<N>], avgpool[<N>], bn, dropout<P>, flatten, gap, dense<N>, convhead"
)
_CONV = re.compile(r"conv(\d+)((?:k\d+|s\d+|v)*)")
_POOL = re.compile(r"(pool|avgpool)(\d*)")
_DENSE = re.compile(r"dense(\d+)")
_DROPOUT = re.compile(r"dropout(\d*\.?\d+)")
_KERAS_NAMES = {"conv": "conv2d", "maxpool": "max_pooling2d", "avgpool": "average_pooling2d",
                "bn": "batch_normalization", "dropout": "dropout", "dense": "dense"}  # fmt: skip
_OTHER_NAMES = {"flatten": "flatten", "gap": "global_average_pooling2d", "convhead": "classifier"}
_POOLING = ("flatten", "gap")
_FEATURE_KINDS = ("conv", "maxpool", "avgpool", "bn", "dropout")


@dataclass(frozen=True)
class LayerSpec:
    """One parsed token.

    Attributes:
        kind: "conv", "maxpool", "avgpool", "bn", "dropout", "flatten", "gap", "dense" or "convhead".
        size: filters (conv), units (dense) or window (pools); 0 otherwise.
        kernel: conv kernel side.
        stride: conv stride.
        valid: conv padding 'valid' (else 'same').
        rate: dropout probability.
    """

    kind: str
    size: int = 0
    kernel: int = 3
    stride: int = 1
    valid: bool = False
    rate: float = 0.0

    @property
    def token(self) -> str:
        """The canonical token text (defaults left out)."""
        if self.kind == "conv":
            kernel = f"k{self.kernel}" if self.kernel != 3 else ""
            stride = f"s{self.stride}" if self.stride != 1 else ""
            return f"conv{self.size}{kernel}{stride}{'v' if self.valid else ''}"
        if self.kind in ("maxpool", "avgpool"):
            window = str(self.size) if self.size != 2 else ""
            return ("pool" if self.kind == "maxpool" else "avgpool") + window
        if self.kind == "dense":
            return f"dense{self.size}"
        if self.kind == "dropout":
            return "dropout" + (format(self.rate, "f").rstrip("0").rstrip(".") or "0")
        return self.kind


def parse_spec(spec: str | Sequence[str]) -> tuple[LayerSpec, ...]:
    """Parse and check a spec; the result is canonical (implied `gap` made explicit).

    Args:
        spec: ``"conv64-pool-flatten-dense32"`` or ``["conv64", "pool", "flatten", "dense32"]``.

    Raises:
        TransferlabError: one line naming the bad token and the valid forms.
    """
    text = _spec_text(spec)
    tokens = [t.strip().lower() for t in text.split("-")]
    layers = tuple(_parse_token(token, text) for token in tokens)
    return _check_order(layers, text)


def format_spec(layers: Sequence[LayerSpec]) -> str:
    """Inverse of `parse_spec`: the canonical spec string."""
    return "-".join(layer.token for layer in layers)


def is_scratch_spec(text: str) -> bool:
    """True when `text` reads as a scratch spec rather than a backbone or recipe name.

    Only the first token is checked, so a spec with a typo later on is still recognised and
    `parse_spec` can name the bad token.
    """
    if not isinstance(text, str) or not text.strip():
        return False
    try:
        _parse_token(text.split("-")[0].strip().lower(), text)
    except TransferlabError:
        return False
    return True


class Conv2dReLU(nn.Conv2d):
    """Conv2d followed by ReLU, as Keras' `Conv2D(activation='relu')`: taps see activations."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(super().forward(x))

    def extra_repr(self) -> str:
        return super().extra_repr() + ", activation=relu"


class LinearReLU(nn.Linear):
    """Linear followed by ReLU, as Keras' `Dense(activation='relu')`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(super().forward(x))

    def extra_repr(self) -> str:
        return super().extra_repr() + ", activation=relu"


class GlobalAvgPool2d(nn.Module):
    """(B, C, H, W) -> (B, C), as Keras' `GlobalAveragePooling2D`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class ScratchCNN(nn.Module):
    """A small CNN built from a spec, with timm's interface.

    Args:
        spec: a spec string or token list (see the module docstring).
        num_classes: classifier outputs; 0 for no classifier.
        input_size: square input side; fixes the size of the layer after `flatten`.
        in_channels: 3 for RGB, 1 for grayscale (MNIST).
    """

    def __init__(self, spec: str | Sequence[str], num_classes: int, input_size: int, in_channels: int = 3):
        super().__init__()
        layers = parse_spec(spec)
        self.spec = format_spec(layers)
        self.input_size = int(input_size)
        self.in_chans = int(in_channels)
        split = next(i for i, layer in enumerate(layers) if layer.kind in _POOLING + ("convhead",))
        self.conv_head = layers[split].kind == "convhead"
        self.flattens = layers[split].kind == "flatten"  # then only input_size inputs fit
        names = _keras_names(layers)
        self.features = _build_features(layers[:split], names[:split], self.in_chans)
        self.feature_shape = _trace_features(self.features, self.in_chans, self.input_size, self.spec)
        self.num_features = self.feature_shape[0]
        self.num_classes = 0
        if self.conv_head:  # registered before pre_logits: the class maps come before the gap
            self.classifier: nn.Module = nn.Identity()
        rest = [(n, layer) for n, layer in zip(names[split:], layers[split:]) if layer.kind != "convhead"]
        self.pre_logits, self.head_hidden_size = _build_pre_logits(rest, self.feature_shape)
        self.reset_classifier(num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, S, S) -> maps (B, num_features, h, w) just before flatten/gap."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Maps -> logits (B, num_classes), or the classifier's input (B, head_hidden_size)."""
        if self.flattens and tuple(x.shape[1:]) != self.feature_shape:
            raise TransferlabError(
                f"'{self.spec}' flattens maps of shape {self.feature_shape} (input {self.input_size}x"
                f"{self.input_size}), got {tuple(x.shape[1:])}: resize inputs to {self.input_size}"
            )
        if self.conv_head:
            return self.pre_logits(x if pre_logits else self.classifier(x))  # class maps, then gap
        x = self.pre_logits(x)
        return x if pre_logits else self.classifier(x)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a new one for `num_classes` (0: none)."""
        self.num_classes = int(num_classes)
        if not num_classes:
            self.classifier = nn.Identity()
        elif self.conv_head:
            self.classifier = nn.Conv2d(self.num_features, num_classes, kernel_size=1)
        else:
            self.classifier = nn.Linear(self.head_hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def build_scratch_body(
    spec: str | Sequence[str], num_classes: int, input_size: int, in_channels: int = 3
) -> ScratchCNN:
    """Build the network of a spec (see the module docstring for the grammar).

    Args:
        spec: spec string or token list.
        num_classes: classifier outputs (0: no classifier).
        input_size: square input side.
        in_channels: image channels.

    Raises:
        TransferlabError: a bad token, or an input too small for the layers.
    """
    return ScratchCNN(spec, num_classes, input_size, in_channels)


def build_scratch_backbone(
    spec: str | Sequence[str],
    num_classes: int,
    input_size: int,
    in_channels: int = 3,
    weights: str | None = None,
) -> Backbone:
    """A scratch CNN as a `Backbone` named ``scratch:<canonical spec>``, trained from zero.

    Its preprocessing is the notes' pixels / 255 (mean 0, std 1), resized to `input_size`.

    Args:
        spec: spec string or token list.
        num_classes: classifier outputs.
        input_size: square input side.
        in_channels: image channels (1 for grayscale).
        weights: None / "none" for random weights, or a weights file saved from this spec.
    """
    body = ScratchCNN(spec, num_classes, input_size, in_channels)
    stages = tuple(
        f"features.{name}" for name, module in body.features.named_children()
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))
    )
    preprocessing = Preprocessing(input_size, 1.0, "bilinear", (0.0,) * in_channels, (1.0,) * in_channels)
    backbone_spec = BackboneSpec(
        name=f"scratch:{body.spec}",
        build=partial(_build_for_weights, body.spec, num_classes, input_size, in_channels),
        preprocessing=preprocessing,
        source="transferlab",
        arch=body.spec,
        stages=stages,
        min_input_size=_min_input_size(body),
    )
    if weights is not None and str(weights).lower() != "none":
        body, weights_id = build_with_weights(backbone_spec, weights)
    else:
        weights_id = "none"
    backbone = Backbone(body, backbone_spec, weights_id, preprocessing)
    return backbone


def _build_for_weights(spec: str, num_classes: int, input_size: int, in_channels: int, pretrained: bool):
    if pretrained:
        raise WeightsError(f"scratch:{spec} has no pretrained weights: use 'none' or a weights file")
    return ScratchCNN(spec, num_classes, input_size, in_channels)


def _spec_text(spec: str | Sequence[str]) -> str:
    if isinstance(spec, str):
        text = spec
    elif isinstance(spec, Sequence) and all(isinstance(t, str) for t in spec):
        text = "-".join(spec)
    else:
        raise TransferlabError(f"a scratch spec is a string or a list of strings, not {spec!r}")
    if not text.strip():
        raise TransferlabError(f"empty scratch spec: use tokens such as conv64-pool-flatten ({VALID_FORMS})")
    return text


def _parse_token(token: str, spec: str) -> LayerSpec:
    if token in ("bn", "flatten", "gap", "convhead"):
        return LayerSpec(token)
    if match := _CONV.fullmatch(token):
        return _parse_conv(token, int(match[1]), re.findall(r"k\d+|s\d+|v", match[2]), spec)
    if match := _POOL.fullmatch(token):
        size = int(match[2]) if match[2] else 2
        _require(size > 0, token, spec, "the pool window must be at least 1")
        return LayerSpec("maxpool" if match[1] == "pool" else "avgpool", size=size)
    if match := _DENSE.fullmatch(token):
        _require(int(match[1]) > 0, token, spec, "a dense layer needs at least 1 unit")
        return LayerSpec("dense", size=int(match[1]))
    if match := _DROPOUT.fullmatch(token):
        _require(float(match[1]) < 1, token, spec, "the dropout rate must be in [0, 1)")
        return LayerSpec("dropout", rate=float(match[1]))
    reason = "ReLU is built into conv and dense" if token == "relu" else "unknown token"
    raise _token_error(token, spec, reason)


def _parse_conv(token: str, filters: int, options: list[str], spec: str) -> LayerSpec:
    kinds = [option[0] for option in options]
    _require(len(set(kinds)) == len(kinds), token, spec, "each of k, s, v at most once")
    values = {option[0]: int(option[1:]) for option in options if option != "v"}
    kernel, stride = values.get("k", 3), values.get("s", 1)
    _require(filters > 0 and kernel > 0 and stride > 0, token, spec, "filters, kernel and stride must be > 0")
    valid = "v" in kinds
    # PyTorch pads symmetrically; 'same' with an even kernel and a stride would need Keras' uneven padding.
    _require(valid or kernel % 2 == 1 or stride == 1, token, spec, "an even kernel with a stride needs 'v'")
    return LayerSpec("conv", size=filters, kernel=kernel, stride=stride, valid=valid)


def _check_order(layers: tuple[LayerSpec, ...], spec: str) -> tuple[LayerSpec, ...]:
    kinds = [layer.kind for layer in layers]
    pools = [i for i, kind in enumerate(kinds) if kind in _POOLING]
    if len(pools) > 1:
        raise _token_error(layers[pools[1]].token, spec, "only one flatten or gap is allowed")
    if "convhead" in kinds:
        split = kinds.index("convhead")
        if kinds[split + 1 :] not in ([], ["gap"]):
            raise _token_error(layers[split + 1].token, spec, "only gap may follow convhead")
        layers, tail = layers[:split] + (LayerSpec("convhead"), LayerSpec("gap")), ()
    else:
        if not pools:  # the implied gap goes before the first dense layer, or last
            at = kinds.index("dense") if "dense" in kinds else len(layers)
            layers, pools = layers[:at] + (LayerSpec("gap"),) + layers[at:], [at]
        split, tail = pools[0], layers[pools[0] + 1 :]
    for layer in layers[:split]:
        reason = "comes after flatten or gap" if layer.kind == "dense" else "convhead needs maps, not features"
        _require(layer.kind in _FEATURE_KINDS, layer.token, spec, reason)
    for layer in tail:
        reason = "conv and pool layers come before flatten or gap"
        _require(layer.kind in ("dense", "dropout", "bn"), layer.token, spec, reason)
    return layers


def _require(ok: bool, token: str, spec: str, reason: str) -> None:
    if not ok:
        raise _token_error(token, spec, reason)


def _token_error(token: str, spec: str, reason: str) -> TransferlabError:
    message = f"bad token '{token}' in scratch spec '{spec}' ({reason}); valid forms: {VALID_FORMS}"
    return TransferlabError(message)


def _keras_names(layers: Sequence[LayerSpec]) -> list[str]:
    """Keras-like names, numbered per layer type from 1: conv2d_1, max_pooling2d_1, dense_1."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        if layer.kind in _KERAS_NAMES:
            counts[layer.kind] = counts.get(layer.kind, 0) + 1
            names.append(f"{_KERAS_NAMES[layer.kind]}_{counts[layer.kind]}")
        else:
            names.append(_OTHER_NAMES[layer.kind])
    return names


def _build_features(layers: Sequence[LayerSpec], names: Sequence[str], channels: int) -> nn.Sequential:
    features = nn.Sequential()
    for name, layer in zip(names, layers):
        if layer.kind == "conv":
            padding = 0 if layer.valid else ((layer.kernel - 1) // 2 if layer.kernel % 2 else "same")
            features.add_module(name, Conv2dReLU(channels, layer.size, layer.kernel, layer.stride, padding))
            channels = layer.size
        else:
            features.add_module(name, _simple_layer(layer, channels, two_d=True))
    return features


def _build_pre_logits(named: Sequence[tuple[str, LayerSpec]], feature_shape: tuple) -> tuple[nn.Module, int]:
    """flatten/gap and the layers after it; also returns the classifier's input width."""
    pre_logits = nn.Sequential()
    channels, height, width = feature_shape
    width_out = channels
    for name, layer in named:
        if layer.kind == "flatten":
            pre_logits.add_module(name, nn.Flatten())
            width_out = channels * height * width
        elif layer.kind == "gap":
            pre_logits.add_module(name, GlobalAvgPool2d())
        elif layer.kind == "dense":
            pre_logits.add_module(name, LinearReLU(width_out, layer.size))
            width_out = layer.size
        else:
            pre_logits.add_module(name, _simple_layer(layer, width_out, two_d=False))
    return pre_logits, width_out


def _simple_layer(layer: LayerSpec, channels: int, two_d: bool) -> nn.Module:
    if layer.kind == "maxpool":
        return nn.MaxPool2d(layer.size)
    if layer.kind == "avgpool":
        return nn.AvgPool2d(layer.size)
    if layer.kind == "bn":
        return nn.BatchNorm2d(channels) if two_d else nn.BatchNorm1d(channels)
    return nn.Dropout(layer.rate)


def _trace_features(features: nn.Sequential, in_channels: int, side: int, spec: str) -> tuple[int, int, int]:
    """Shape (C, h, w) of the maps for a `side` x `side` input, by a dry run layer by layer."""
    x = torch.zeros(1, in_channels, side, side)
    was_training = features.training
    features.eval()  # BatchNorm in training mode refuses a batch of one 1x1 map
    try:
        with torch.no_grad():
            for name, layer in features.named_children():
                try:
                    x = layer(x)
                except RuntimeError:
                    raise TransferlabError(
                        f"input {side}x{side} is too small for scratch spec '{spec}': {name} gets "
                        f"{x.shape[-2]}x{x.shape[-1]} maps; use a larger input or fewer pools/strides"
                    ) from None
    finally:
        features.train(was_training)
    return tuple(x.shape[1:])


def _min_input_size(body: ScratchCNN) -> int:
    """Smallest input side the body accepts; a flattening body accepts only its own size."""
    if body.flattens:
        return body.input_size
    for side in range(1, body.input_size):
        try:
            _trace_features(body.features, body.in_chans, side, body.spec)
        except TransferlabError:
            continue
        return side
    return body.input_size
