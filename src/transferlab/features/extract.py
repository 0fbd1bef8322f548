"""Run a frozen conv base over decoded images once: pooled features at a chosen layer.

Speed (see BENCHMARKS.md, "Throughput"): BatchNorm is folded into the convolutions
(`models.fold`); beside a GPU the next batch is prepared in a background thread while the
network runs the current one; the eval crop and normalisation are done on whole uint8 batches;
the network runs channels_last, in bf16 on CUDA (as training and prediction do there) or when
asked for, and optionally compiled with `torch.compile` when enough images are extracted for
the compile time to pay back.

Precision "auto" is bf16 exactly where the rest of transferlab runs in bf16 (CUDA autocast), so
a head trained on cached features sees the same numbers when the saved model later predicts
from images. On a CPU, "bf16" is an opt-in: about twice as fast on CPUs with AVX512-BF16 or AMX,
features within a cosine of 0.999 of fp32, but predictions then differ from the run's in the
fourth decimal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..backbones import Backbone, Preprocessing
from ..data.transforms import eval_batch
from ..engine.device import pick_device, to_device
from ..errors import unknown_name
from ..models.fold import fold_batch_norm, probe_input
from ..models.inference import PooledTaps, check_engine, frozen_forward

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
# torch.compile costs ~20 s on 2 CPU cores (inductor) and gains ~1.5 ms per image at 224 px:
# it pays back from roughly this many images in one extraction (bench/throughput.py --compile).
COMPILE_MIN_IMAGES = 20_000


@dataclass(frozen=True)
class ExtractionOptions:
    """How a frozen network runs over images (every extraction, cached or not, takes one).

    Attributes:
        batch_size: images per forward pass.
        device: "auto", "cpu", "cuda", ...
        precision: "auto" (bf16 on CUDA, fp32 elsewhere), "fp32" or "bf16".
        compile: True/False, or None to compile only for at least `COMPILE_MIN_IMAGES` images.
        engine: "auto", "torch" or "openvino" (see `models.inference`); OpenVINO does not run
            with `compile`.
        progress: show a progress bar.
    """

    batch_size: int = 64
    device: str = "auto"
    precision: str = "auto"
    compile: bool | None = None
    engine: str = "auto"
    progress: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise unknown_name("precision", self.precision, PRECISIONS)
        check_engine(self.engine)


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matrix maths runs natively: CUDA with bf16, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence the guard
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the network runs in for `precision` on `device` (features are returned as fp32)."""
    if precision not in PRECISIONS:
        raise unknown_name("precision", precision, PRECISIONS)
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" and native_bf16(device) else torch.float32
    if precision == "bf16" and not native_bf16(device):
        log.warning("bf16 on %s is emulated here (no native bf16 maths): slower than fp32", device)
    return torch.bfloat16 if precision == "bf16" else torch.float32


# no_grad, not inference_mode: the backbone is moved/converted in place below, and parameters
# converted inside inference mode become inference tensors that can never be trained again
# (fine-tuning after phase-one feature extraction failed with "inference tensor" errors).
@torch.no_grad()
def extract_features(
    backbone: Backbone,
    images: Sequence[torch.Tensor],
    layer: str | None = None,
    preprocessing: Preprocessing | None = None,
    options: ExtractionOptions = ExtractionOptions(),
    transform: Callable | None = None,
    fold: bool = True,
) -> np.ndarray:
    """Pooled features (N, C) float32 for decoded uint8 images (3, H, W).

    Args:
        backbone: a backbone (its top is ignored).
        images: sequence of uint8 tensors, e.g. `DecodedImages.images`.
        layer: named layer to tap; None for the end of the conv base.
        preprocessing: eval preprocessing (default: the backbone's).
        options: batching, device, precision, compilation, engine and progress bar.
        transform: per-image transform to the network's input (default: the eval crop and
            normalisation, done per batch). Random transforms draw from torch's global RNG in
            image order, so a seeded run is reproducible.
        fold: run a BatchNorm-folded copy (`inference_network`); False when the caller
            already folded it (a backbone that carries hooks is never folded, so they run).
    """
    return extract_layer_features(backbone, images, (layer,), preprocessing, options, transform, fold)[0]


@torch.no_grad()
def extract_layer_features(backbone: Backbone, images: Sequence[torch.Tensor], layers: Sequence[str | None],
                           preprocessing: Preprocessing | None = None,
                           options: ExtractionOptions = ExtractionOptions(), transform: Callable | None = None,
                           fold: bool = True) -> list[np.ndarray]:
    """Pooled features (N, C) float32 at each of `layers`, all from one pass (see `extract_features`)."""
    batch_size = options.batch_size
    pre = preprocessing or backbone.preprocessing
    target = pick_device(options.device)
    dtype = compute_dtype(options.precision, target)
    backbone.eval().to(target).to(memory_format=torch.channels_last)
    if fold:
        backbone = inference_network(backbone, layers, pre.input_size, target)
    compiled = options.compile if options.compile is not None else len(images) >= COMPILE_MIN_IMAGES
    compiled = bool(compiled) and tuple(layers) == (None,)  # taps on inner layers use hooks, which break graphs
    if compiled:
        forward, engine = _compiled(backbone), "torch.compile"
    else:
        precision = "bf16" if dtype == torch.bfloat16 else "fp32"
        forward, engine = frozen_forward(PooledTaps(backbone, layers), pre.input_size, target, options.engine,
                                         precision, len(images))

    def prepare(first: int) -> torch.Tensor:
        chunk = images[first : first + batch_size]
        if transform is None:
            return eval_batch(chunk, pre)
        return torch.stack([transform(img) for img in chunk])

    chunks, start = [], time.perf_counter()
    bar = tqdm(total=len(images), desc="features", unit="img", disable=not options.progress)
    starts = range(0, len(images), batch_size)
    # Beside a GPU the next batch is prepared while the current one runs; on a CPU that thread
    # would compete with the network's own threads for the same cores (measured: 62 vs 82 img/s).
    batches = _prefetched(prepare, starts) if target.type == "cuda" else (prepare(s) for s in starts)
    in_torch = not engine.startswith("openvino")
    for batch in batches:
        count = len(batch)
        batch = _pad(batch, batch_size) if compiled else batch  # one shape: no recompilation
        with torch.autocast(target.type, dtype=dtype, enabled=in_torch and dtype != torch.float32):
            feats = forward(to_device(batch, target) if in_torch else batch)
        chunks.append([f[:count].float().cpu().numpy() for f in feats])
        bar.update(count)
    bar.close()
    elapsed = time.perf_counter() - start
    log.info("extracted %d feature vectors in %.1fs (%.0f img/s, %s, %s)", len(images), elapsed,
             len(images) / max(elapsed, 1e-9), engine, str(dtype).removeprefix("torch."))
    if not chunks:
        return [np.zeros((0, 0), dtype=np.float32) for _ in layers]
    return [np.concatenate([c[i] for c in chunks]).astype(np.float32, copy=False) for i in range(len(layers))]


def inference_network(backbone: Backbone, layers: Sequence[str | None], side: int, device: torch.device) -> Backbone:
    """`backbone` with its BatchNorms folded into the convolutions (the same features at every one
    of `layers`, faster), or `backbone` itself where that changes any (see `models.fold`).
    Leaves `backbone` as is."""
    sample = probe_input(side, device)
    return fold_batch_norm(backbone, lambda net: torch.cat(PooledTaps(net, layers)(sample), dim=1))


def _compiled(backbone: Backbone) -> Callable[[torch.Tensor], tuple[torch.Tensor]]:
    log.info("compiling %s with torch.compile (takes a while once; --no-compile to skip)", backbone.name)
    network = torch.compile(lambda x: backbone.forward_features(x).mean(dim=(2, 3)), dynamic=False)
    return lambda x: (network(x),)


def _prefetched(prepare: Callable[[int], torch.Tensor], starts: range) -> Iterator[torch.Tensor]:
    """`prepare(start)` for each start, the next one computed in a thread while the caller works."""
    if len(starts) <= 1:
        yield from (prepare(s) for s in starts)
        return
    # One worker only: random transforms then draw from the RNG in image order (reproducible).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="transferlab-prefetch") as pool:
        pending = pool.submit(prepare, starts[0])
        for following in list(starts[1:]) + [None]:
            ready = pending.result()
            if following is not None:
                pending = pool.submit(prepare, following)
            yield ready


def _pad(batch: torch.Tensor, size: int) -> torch.Tensor:
    """Repeat the last image so a short final batch has the compiled shape."""
    if len(batch) >= size:
        return batch
    return torch.cat([batch, batch[-1:].expand(size - len(batch), *batch.shape[1:])])
