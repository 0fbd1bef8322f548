"""Frozen forward passes: OpenVINO on the CPU where it reproduces torch, torch otherwise.

On a CPU most of extraction, the depth sweep, `predict` and `evaluate` is the frozen network's
forward pass, and OpenVINO runs it about 1.8x faster than torch eager (BENCHMARKS.md,
"Throughput"). The network is exported once per weights, layers and input side through the ONNX
exporter torch already has (no network access, no telemetry: OpenVINO's own converter reports
usage), saved as OpenVINO IR in the cache and compiled with OpenVINO's `CACHE_DIR`, so a second
run starts in about a second. Before it is used it must reproduce torch on a probe batch (as the
BatchNorm fold is checked); bf16 is used only when asked for and only where its outputs hold.
Otherwise torch runs it, and one log line says why. Gradients never go through OpenVINO.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ..backbones import Backbone, capture, forward_until
from ..errors import unknown_name
from .fingerprint import parameter_fingerprint
from ..paths import cache_dir

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "openvino")
# Exporting lite0 costs ~2 s once (then it is read from the cache in ~0.1 s) and the engine saves
# ~11 ms per 224-px image on one core, ~4 ms on two: "auto" exports for at least this many images.
OPENVINO_MIN_IMAGES = 256
TOLERANCE = 1e-4  # largest fp32 difference allowed, relative to the largest output (as the fold)
BF16_MIN_COSINE = 0.999  # bf16 outputs must keep at least this cosine to fp32's, per row

Forward = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]


class PooledTaps(nn.Module):
    """A backbone as one module: images (B, 3, S, S) -> pooled features (B, C) at each layer.

    `None` stands for the end of the conv base. One forward pass gives every tap.
    """

    def __init__(self, backbone: Backbone, layers: Sequence[str | None]):
        super().__init__()
        self.backbone = backbone
        self.layers = tuple(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        inner = [name for name in self.layers if name is not None]
        if None in self.layers:
            with capture(self.backbone.body, inner) as maps:
                end = self.backbone.forward_features(x)
        else:
            maps, end = forward_until(self.backbone.body, x, inner), None
        return tuple(_pooled(end if name is None else maps[name]) for name in self.layers)


def _pooled(maps: torch.Tensor) -> torch.Tensor:
    return maps.mean(dim=(2, 3)) if maps.dim() == 4 else maps


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise unknown_name("engine", engine, ENGINES)
    return engine


def planned_engine(engine: str, images: int) -> str:
    """The engine for a whole extraction of `images` done in chunks, so every chunk keeps one decision."""
    return "openvino" if engine == "auto" and images >= OPENVINO_MIN_IMAGES else engine


def frozen_forward(network: nn.Module, side: int, device: torch.device, engine: str = "auto",
                   precision: str = "fp32", images: int = 0) -> tuple[Forward, str]:
    """A no-grad forward pass of `network` (eval mode, outputs a tensor or a tuple) and its engine's name.

    Args:
        network: the frozen module; its inputs are (B, 3, side, side) float batches.
        engine: "torch", "openvino", or "auto" (OpenVINO on the CPU for at least
            `OPENVINO_MIN_IMAGES` images, or when this network was exported before).
        precision: "fp32" or "bf16" (OpenVINO's bf16 only where a probe shows it holds).
        images: how many images will be run (for "auto").

    Returns:
        (forward, name): `forward(x)` returns a tuple of float32 tensors on `device`; name is
        "torch" or "openvino-fp32" / "openvino-bf16".
    """
    check_engine(engine)
    network.eval()  # a wrapper made in train mode would also leave the exporter restoring train mode
    torch_forward = _torch_forward(network)
    if engine == "torch" or device.type != "cpu":
        if engine == "openvino":
            log.info("engine openvino runs on the CPU only: torch on %s", device)
        return torch_forward, "torch"
    ir = _ir_path(network, side)
    if engine == "auto" and images < OPENVINO_MIN_IMAGES and not ir.is_file():
        return torch_forward, "torch"
    try:
        with torch.no_grad():
            return _openvino_forward(network, side, ir, precision)
    except ImportError:
        log.info("engine: OpenVINO is not installed (pip install openvino): torch runs the frozen network")
    except _Mismatch as exc:
        log.info("engine: OpenVINO does not reproduce torch here (%s): torch runs the frozen network", exc)
    except Exception as exc:  # noqa: BLE001  any export or compile failure: torch still works
        log.info("engine: OpenVINO failed (%s: %s): torch runs the frozen network", type(exc).__name__,
                 str(exc).splitlines()[0][:200] if str(exc) else "")
    return torch_forward, "torch"


class _Mismatch(Exception):
    """OpenVINO's outputs differ from torch's on the probe batch."""


def _torch_forward(network: nn.Module) -> Forward:
    @torch.no_grad()
    def forward(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = network(x)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    return forward


def _ir_path(network: nn.Module, side: int) -> Path:
    """Where the exported network lives in the cache: keyed by its weights, layers, side and versions."""
    import importlib.metadata as metadata

    try:
        ov_version = metadata.version("openvino")
    except metadata.PackageNotFoundError:
        ov_version = None
    key = {"parameters": parameter_fingerprint(network), "side": side, "torch": torch.__version__,
           "openvino": ov_version, "module": type(network).__name__, "layers": list(getattr(network, "layers", ()))}
    digest = hashlib.sha256(repr(sorted(key.items())).encode()).hexdigest()[:32]
    return cache_dir() / "openvino" / f"{digest}.xml"


def _openvino_forward(network: nn.Module, side: int, ir: Path, precision: str) -> tuple[Forward, str]:
    if not ir.is_file():
        _export(network, side, ir)
    probe = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0)) * 2 - 1
    expected = _torch_forward(network)(probe)
    request = _compiled(str(ir), "f32", torch.get_num_threads()).create_infer_request()
    _check_fp32(_run(request, probe), expected)
    name = "openvino-fp32"
    if precision == "bf16":
        half = _compiled(str(ir), "bf16", torch.get_num_threads()).create_infer_request()
        if _holds_in_bf16(_run(half, probe), expected):
            request, name = half, "openvino-bf16"
        else:
            log.info("engine: OpenVINO bf16 changes the features here (cosine < %s): fp32", BF16_MIN_COSINE)
    log.debug("engine: %s for %s (%s)", name, type(network).__name__, ir.name)
    return (lambda x: _run(request, x)), name


def _export(network: nn.Module, side: int, ir: Path) -> None:
    """ONNX export at batch 2, read by OpenVINO with a free batch size, saved as IR in the cache."""
    import openvino as ov

    core = ov.Core()
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated in favour of dynamo
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (torch.zeros(2, 3, side, side),), buffer, opset_version=17, dynamo=False,
                          input_names=["images"])
    model = core.read_model(buffer.getvalue(), b"")
    model.reshape([-1, 3, side, side])  # a batch dimension exported as dynamic gave wrong outputs
    ir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=ir.parent))
    try:
        ov.save_model(model, str(staging / "model.xml"), compress_to_fp16=False)
        os.replace(staging / "model.bin", ir.with_suffix(".bin"))
        os.replace(staging / "model.xml", ir)  # the graph last: once it is there, the pair is whole
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@functools.lru_cache(maxsize=4)  # chunked extractions and repeated predictions compile once per process
def _compiled(ir: str, precision_hint: str, threads: int):
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": precision_hint, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_NUM_THREADS": max(1, threads), "CACHE_DIR": str(cache_dir() / "openvino" / "compiled")}
    return ov.Core().compile_model(ir, "CPU", config)


def _run(request, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    request.infer({0: x.detach().float().contiguous().numpy()})  # OpenVINO reads plain NCHW memory
    return tuple(torch.from_numpy(request.get_output_tensor(i).data.copy()) for i in range(len(request.model_outputs)))


def _check_fp32(got: Sequence[torch.Tensor], expected: Sequence[torch.Tensor]) -> None:
    if len(got) != len(expected):
        raise _Mismatch(f"{len(got)} outputs instead of {len(expected)}")
    for ours, theirs in zip(got, expected):
        if ours.shape != theirs.shape:
            raise _Mismatch(f"shape {tuple(ours.shape)} instead of {tuple(theirs.shape)}")
        scale = float(theirs.abs().max()) or 1.0
        difference = float((ours - theirs.float()).abs().max())
        if difference > TOLERANCE * scale:
            raise _Mismatch(f"largest difference {difference:.2e} of outputs up to {scale:.2e}")


def _holds_in_bf16(got: Sequence[torch.Tensor], expected: Sequence[torch.Tensor]) -> bool:
    cosines = [nn.functional.cosine_similarity(a.flatten(1), b.float().flatten(1), dim=1).min()
               for a, b in zip(got, expected)]
    return all(float(c) >= BF16_MIN_COSINE for c in cosines)
