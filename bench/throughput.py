"""Images per second: transferlab's input pipeline against a plain timm + PIL loop, same images.

Tasks, with the packaged ImageNet weights:
- forward: the frozen network alone on a batch of 32 (lite0 at 224 px, lite2 at 260 px):
  torch eager channels_last (transferlab before), BatchNorm folded, and transferlab's engine;
- extract: files on disk -> pooled features (decoding included), lite0 at 224 px, with the
  torch engine and with the default engine (OpenVINO on the CPU);
- finetune: one fine-tuning epoch of the whole network, with the same augmentation on both sides
  (timm's default training transform: random resized crop 0.08-1, flip, colour jitter 0.4);
- predict: wall time of `transferlab predict IMAGE` to its answer, cache warm (second call).

The plain loop is written the way timm's documentation shows: `timm.create_model`,
`resolve_data_config` + `create_transform`, `Image.open(...).convert("RGB")` per image, batches
of 32, forward (and backward); the process runs with glibc's default allocator, as a script does.
transferlab runs its library path (`cached_features` on a cold cache; decode once +
`train_transform` + `Trainer.train_epoch`) after `tune_allocator()`, as the `transferlab`
command does. Every setting runs in its own subprocess so peak memory (ru_maxrss) is its own.
Building the model is not timed; everything from the file names on is.

Usage:
    MALLOC_MMAP_THRESHOLD_= .venv/bin/python bench/throughput.py [--data DIR] [--limit N] [--tasks forward,extract,predict]
    .venv/bin/python bench/throughput.py --limit 64 --no-write      # smoke test
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
SECTION = "## Throughput"
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cats_vs_dogs"
TUNED_ENV = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
# timm's default training augmentation, as a transferlab spec (the same work on both sides)
TIMM_LIKE_AUGMENT = ("[{op: crop, scale: [0.08, 1.0]}, hflip, "
                     "{op: color_jitter, brightness: 0.4, contrast: 0.4, saturation: 0.4}]")
ARCH, BACKBONE, BATCH = "tf_efficientnet_lite0", "efficientnet_lite0", 32

# (task, label, worker name, environment additions, extra worker flags)
SETTINGS = (
    # every forward row with the tuned allocator, as the `transferlab` command runs
    *[("forward", f"{name}: {label}", "forward", TUNED_ENV, [f"--backbone={name}", f"--mode={mode}"])
      for name in ("efficientnet_lite0", "efficientnet_lite2")
      for mode, label in (("eager", "torch eager, channels_last"), ("folded", "torch, BatchNorm folded"),
                          ("engine", "transferlab engine (OpenVINO fp32 on the CPU)"))],
    ("extract", "plain timm + PIL loop", "plain_extract", {}, []),
    ("extract", "plain loop + tuned malloc", "plain_extract", TUNED_ENV, []),
    ("extract", "transferlab --engine torch (fp32)", "tl_extract", {}, ["--engine=torch"]),
    ("extract", "transferlab (default engine: OpenVINO fp32 on the CPU)", "tl_extract", {}, []),
    ("finetune", "plain timm + PIL loop", "plain_finetune", {}, []),
    ("finetune", "transferlab", "tl_finetune", {}, []),
)
COMPILE_SETTING = ("extract", "transferlab + torch.compile (compile time included)", "tl_extract", {}, ["--compile"])
BF16_SETTING = ("extract", "transferlab --precision bf16", "tl_extract", {}, ["--precision=bf16"])


# --- workers (one per subprocess) ----------------------------------------------------------------
def image_list(data: str, limit: int | None) -> tuple[list[str], list[int]]:
    from transferlab.data import load_splits

    train = load_splits(data).train
    order = sorted(range(len(train)), key=lambda i: (i % 2, i))[: limit or None]  # both classes early
    return [train.paths[i] for i in order], [int(train.labels[i]) for i in order]


def plain_model(num_classes: int = 0):
    """timm's model with the packaged ImageNet weights (renamed onto timm's keys)."""
    import timm
    import torch

    from transferlab.backbones.lite_keymap import map_lite_state_dict
    from transferlab.backbones.weights import packaged_weights_path

    model = timm.create_model(ARCH, num_classes=num_classes)
    state = torch.load(packaged_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    state = {k: v for k, v in map_lite_state_dict(state, model).items() if not k.startswith("classifier.")}
    missing = model.load_state_dict(state, strict=False).missing_keys
    assert all(k.startswith("classifier.") for k in missing), missing
    return model


def plain_extract(paths: list[str], labels: list[int], args) -> dict:
    import numpy as np
    import timm.data
    import torch
    from PIL import Image

    model = plain_model().eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    start, outputs = time.perf_counter(), []
    with torch.no_grad():
        for first in range(0, len(paths), BATCH):
            batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[first : first + BATCH]])
            outputs.append(model(batch).numpy())  # num_classes=0: pooled features
    seconds = time.perf_counter() - start
    np.save(args.features_out, np.concatenate(outputs))
    return {"seconds": seconds}


def tl_extract(paths: list[str], labels: list[int], args) -> dict:
    import numpy as np

    from transferlab.backbones import create_backbone
    from transferlab.data.scan import ImageSet
    from transferlab.features import ExtractionOptions, cached_features

    backbone = create_backbone(BACKBONE, "imagenet", include_top=False)
    images = ImageSet(tuple(paths), tuple(labels), tuple(str(k) for k in range(max(labels) + 1)))
    with tempfile.TemporaryDirectory() as cold_cache:
        start = time.perf_counter()
        options = ExtractionOptions(batch_size=BATCH, device="cpu", precision=args.precision,
                                    compile=args.compile or False, engine=args.engine)
        feats = cached_features(backbone, images, options=options, root=Path(cold_cache))
        seconds = time.perf_counter() - start
    np.save(args.features_out, feats.features)
    return {"seconds": seconds}


def forward(paths: list[str], labels: list[int], args) -> dict:
    """The frozen network alone on one batch, median of `args.repeats` timed passes after a warm-up."""
    import statistics

    import torch

    from transferlab.backbones import create_backbone
    from transferlab.features.extract import inference_network
    from transferlab.models.inference import PooledTaps, frozen_forward

    cpu = torch.device("cpu")
    backbone = create_backbone(args.backbone, "imagenet", include_top=False).eval()
    side = backbone.preprocessing.input_size
    backbone.to(memory_format=torch.channels_last)
    network = PooledTaps(backbone if args.mode == "eager" else inference_network(backbone, (None,), side, cpu),
                         (None,))
    run, engine = frozen_forward(network, side, cpu, "openvino" if args.mode == "engine" else "torch")
    batch = torch.rand(BATCH, 3, side, side, generator=torch.Generator().manual_seed(0)) * 2 - 1
    batch = batch if args.mode == "engine" else batch.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        run(batch)
        for _ in range(args.repeats):
            start = time.perf_counter()
            run(batch)
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "images": BATCH, "engine": engine}


def plain_finetune(paths: list[str], labels: list[int], args) -> dict:
    import timm.data
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    class Files(Dataset):
        def __init__(self, transform):
            self.transform = transform

        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            return self.transform(Image.open(paths[i]).convert("RGB")), labels[i]

    model = plain_model(num_classes=2)
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model), is_training=True)
    loader = DataLoader(Files(transform), batch_size=BATCH, shuffle=True, num_workers=args.workers, drop_last=True)
    optimizer, loss_fn = torch.optim.AdamW(model.parameters(), lr=1e-4), torch.nn.CrossEntropyLoss()
    model.train()
    start, seen = time.perf_counter(), 0
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(targets)
    return {"seconds": time.perf_counter() - start, "images": seen}


def tl_finetune(paths: list[str], labels: list[int], args) -> dict:
    import torch

    from transferlab.backbones import create_backbone
    from transferlab.data import DecodedDataset, decode_images
    from transferlab.data.augment import train_transform
    from transferlab.engine.trainer import Trainer, TrainerOptions
    from transferlab.models.classifier import Classifier
    from transferlab.models.heads import Head
    from transferlab.engine.batches import image_batches

    backbone = create_backbone(BACKBONE, "imagenet", include_top=False)
    classifier = Classifier(backbone, Head(backbone.feature_dim, 2)).to(memory_format=torch.channels_last)
    pre = backbone.preprocessing
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=1e-4)
    trainer = Trainer(classifier, optimizer, torch.nn.CrossEntropyLoss(), torch.device("cpu"),
                      options=TrainerOptions(bn_policy="train"))
    start = time.perf_counter()
    decoded, _ = decode_images(paths, pre.resize_size, pre.interpolation)
    label_of = dict(zip(paths, labels))
    dataset = DecodedDataset(decoded.images, [label_of[p] for p in decoded.paths],
                             train_transform(pre, TIMM_LIKE_AUGMENT))
    batches = image_batches(dataset, BATCH, seed=0, workers=args.workers)
    trainer.train_epoch(batches(0), 0)
    seen = (len(decoded.paths) // BATCH) * BATCH
    return {"seconds": time.perf_counter() - start, "images": seen}


def worker(args: argparse.Namespace) -> None:
    if args.worker.startswith("tl_"):
        from transferlab.cli._runtime import tune_allocator

        tune_allocator()  # what the transferlab command does first
    import torch

    torch.set_num_threads(args.threads)
    paths, labels = image_list(args.data, args.limit)
    run = globals()[args.worker]
    result = run(paths, labels, args)
    result.setdefault("images", len(paths))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# --- the parent: run each setting in a fresh process, print a table ------------------------------
def measure(setting: tuple, args: argparse.Namespace, scratch: Path) -> dict:
    task, label, name, extra_env, flags = setting
    env = {k: v for k, v in os.environ.items() if k not in TUNED_ENV}
    env.update(extra_env)
    env["TRANSFERLAB_MALLOC_TUNING"] = "1"
    features_out = scratch / f"{name}-{len(list(scratch.iterdir()))}.npy"
    command = [sys.executable, __file__, f"--worker={name}", f"--features-out={features_out}",
               *_shared_flags(args), *flags]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(task=task, label=label, rate=result["images"] / result["seconds"],
                  features=features_out if features_out.exists() else None)
    print(f"{task} / {label}: {result['rate']:.1f} images/s, peak {result['peak_rss_mb']:.0f} MB", file=sys.stderr)
    return result


def agreement(a: Path | None, b: Path | None) -> str:
    """Mean cosine similarity of two feature files (same images, same order)."""
    if a is None or b is None:
        return ""
    import numpy as np

    x, y = np.load(a), np.load(b)
    cosine = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1) + 1e-12)
    return f"{cosine.mean():.4f}"


def markdown(results: list[dict], args: argparse.Namespace) -> str:
    lines = [args.section, "", f"efficientnet_lite0, 224 px, batch {BATCH}, {args.threads} threads, "
             f"{next((r['images'] for r in results if r['task'] == 'extract'), 0)} images of "
             f"`{Path(args.data).name}/train`; every row a fresh process.", ""]
    for task, title in (("forward", "Forward pass only, batch 32 (median of the timed passes)"),
                        ("extract", "Feature extraction (decoding included)"),
                        ("finetune", "One fine-tuning epoch, whole network (decoding and augmentation included)")):
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        base = rows[0]
        if task == "forward":
            lines += _forward_table(rows, title)
            continue
        lines += [f"**{title}**", "", "| pipeline | images/s | vs plain loop | seconds | peak RSS (MB) |"
                  + (" cosine to plain |" if task == "extract" else ""),
                  "|---|---:|---:|---:|---:|" + ("---:|" if task == "extract" else "")]
        for r in rows:
            extra = f" {agreement(base['features'], r['features'])} |" if task == "extract" else ""
            lines.append(f"| {r['label']} | {r['rate']:.1f} | {r['rate'] / base['rate']:.2f}x | "
                         f"{r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |{extra}")
        lines.append("")
    predictions = [r for r in results if r["task"] == "predict"]
    if predictions:
        lines += ["**`transferlab predict IMAGE` on a warm cache: seconds to the answer (process start included)**", "",
                  "| engine | seconds |", "|---|---:|", *[f"| {r['label']} | {r['seconds']:.2f} |" for r in predictions], ""]
    lines += [f"Command: `.venv/bin/python bench/throughput.py {' '.join(_shared_flags(args))}`.",
              f"Machine: {_machine()}; measured {datetime.date.today().isoformat()}.", ""]
    return "\n".join(lines)


def _forward_table(rows: list[dict], title: str) -> list[str]:
    lines = [f"**{title}**", "", "| backbone: engine | images/s | vs torch eager channels_last |", "|---|---:|---:|"]
    for r in rows:
        base = next(b for b in rows if b["label"].split(":")[0] == r["label"].split(":")[0])
        lines.append(f"| {r['label']} (ran: {r['engine']}) | {r['rate']:.1f} | {r['rate'] / base['rate']:.2f}x |")
    return lines + [""]


def measure_prediction(engine: str, image: Path) -> dict:
    """Wall seconds of `transferlab predict IMAGE --engine ENGINE`, the second of two calls (warm caches)."""
    command = [sys.executable, "-m", "transferlab", "predict", str(image), "--engine", engine, "--json"]
    env = {**os.environ, **TUNED_ENV}
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        seconds = time.perf_counter() - start
    label = f"--engine {engine}"
    print(f"predict / {label}: {seconds:.2f} s", file=sys.stderr)
    return {"task": "predict", "label": label, "seconds": seconds}


def _sample_photo(scratch: Path) -> Path:
    from skimage import data
    from PIL import Image

    path = scratch / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path


def _shared_flags(args: argparse.Namespace) -> list[str]:
    flags = [f"--data={args.data}", f"--tasks={args.tasks}", f"--threads={args.threads}",
             f"--workers={args.workers}", f"--repeats={args.repeats}"]
    return flags + ([f"--limit={args.limit}"] if args.limit else [])


def _machine() -> str:
    import torch

    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"


def write_section(text: str, section: str = SECTION) -> None:
    """Replace (or append) `section` of BENCHMARKS.md with `text`."""
    from transferlab.paths import atomic_write_text

    old = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    if section in lines:
        start = lines.index(section)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = text.rstrip("\n").splitlines() + ([""] if end < len(lines) else [])
    else:
        lines += ["", *text.rstrip("\n").splitlines()]
    atomic_write_text(BENCHMARKS, "\n".join(lines).rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="dataset (its train split is used)")
    parser.add_argument("--limit", type=int, help="only the first N training images (smoke tests)")
    parser.add_argument("--tasks", default="forward,extract,finetune,predict",
                        help="any of forward, extract, finetune, predict")
    parser.add_argument("--repeats", type=int, default=7, help="timed passes per forward row")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers, both fine-tuning loops")
    parser.add_argument("--compile", action="store_true", help="add a torch.compile row (extraction)")
    parser.add_argument("--bf16", action="store_true", help="add a bf16 row (extraction; slow on most CPUs)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md")
    parser.add_argument("--section", default=SECTION, help="the BENCHMARKS.md section to write")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--features-out", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--backbone", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    tasks = set(args.tasks.split(","))
    settings = [s for s in SETTINGS if s[0] in tasks]
    extras = [s for s, wanted in ((COMPILE_SETTING, args.compile), (BF16_SETTING, args.bf16)) if wanted]
    if "extract" in tasks:
        last_extract = max(i for i, s in enumerate(settings) if s[0] == "extract")
        settings[last_extract + 1:last_extract + 1] = extras
    with tempfile.TemporaryDirectory() as scratch:
        results = [measure(s, args, Path(scratch)) for s in settings]
        if "predict" in tasks:
            photo = _sample_photo(Path(scratch))
            results += [measure_prediction(engine, photo) for engine in ("torch", "openvino")]
        text = markdown(results, args)
    print(text)
    if not args.no_write:
        write_section(text, args.section)


if __name__ == "__main__":
    main()
