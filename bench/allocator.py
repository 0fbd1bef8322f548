"""CPU inference speed of efficientnet_lite0 with glibc's default malloc vs the tuned settings.

Each setting runs in its own subprocess, because the allocator must be configured before the
process allocates. Prints a markdown table and writes it as the "## Allocator" section of
BENCHMARKS.md (replacing an older one).

Usage:
    .venv/bin/python bench/allocator.py [--batch-size 32] [--input-size 224] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
SECTION = "## Allocator"
TUNED_ENV = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
# (label, environment additions, worker flags)
SETTINGS = (
    ("default glibc malloc", {}, []),
    ("default glibc malloc + channels_last", {}, ["--channels-last"]),
    ("tuned (MALLOC_* environment variables)", TUNED_ENV, []),
    ("tuned (mallopt via ctypes, as the CLI does)", {}, ["--mallopt"]),
    ("tuned (environment) + channels_last", TUNED_ENV, ["--channels-last"]),
)


def worker(args: argparse.Namespace) -> None:
    """Measure one setting in this process; print {"images_per_s": ...} as JSON."""
    if args.mallopt:
        from transferlab.cli._runtime import tune_allocator

        if not tune_allocator():
            raise SystemExit("mallopt tuning was not applied")
    import torch

    from transferlab import create_backbone

    torch.set_num_threads(args.threads)
    model = create_backbone("efficientnet_lite0", weights="none").eval()
    x = torch.randn(args.batch_size, 3, args.input_size, args.input_size)  # (B, C, H, W)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    rates = []
    with torch.inference_mode():
        for i in range(args.warmup + args.repeats):
            start = time.perf_counter()
            model(x)
            if i >= args.warmup:
                rates.append(args.batch_size / (time.perf_counter() - start))
    print(json.dumps({"images_per_s": statistics.median(rates), "all": rates}))


def measure(label: str, extra_env: dict, flags: list[str], args: argparse.Namespace) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k not in TUNED_ENV}
    env.update(extra_env)
    command = [sys.executable, __file__, "--worker", *flags, *_shared_flags(args)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    rates = json.loads(done.stdout.strip().splitlines()[-1])["all"]
    print(f"{label}: median {statistics.median(rates):.1f} images/s", file=sys.stderr)
    return rates


def _shared_flags(args: argparse.Namespace) -> list[str]:
    return [
        f"--batch-size={args.batch_size}",
        f"--input-size={args.input_size}",
        f"--threads={args.threads}",
        f"--warmup={args.warmup}",
        f"--repeats={args.repeats}",
    ]


def _command_line(args: argparse.Namespace) -> str:
    return " ".join(["bench/allocator.py", *_shared_flags(args), f"--rounds={args.rounds}"])


def markdown(results: list[tuple[str, float]], args: argparse.Namespace) -> str:
    base = results[0][1]
    lines = [
        SECTION,
        "",
        f"efficientnet_lite0 inference (random weights and input), batch {args.batch_size}, "
        f"{args.input_size} px, {args.threads} threads; median over {args.rounds} fresh processes per "
        f"setting (interleaved) x {args.repeats} batches, each process after {args.warmup} warm-up batches.",
        "",
        "| setting | images/s | vs default |",
        "|---|---:|---:|",
        *(f"| {label} | {rate:.1f} | {rate / base:.2f}x |" for label, rate in results),
        "",
        f"Command: `.venv/bin/python {_command_line(args)}`.",
        f"Tuned environment: `{' '.join(f'{k}={v}' for k, v in TUNED_ENV.items())}`; "
        "the CLI applies the same through `mallopt` (trim threshold capped at INT_MAX).",
        "Why: with glibc's default thresholds every large activation is mmapped and page-faulted "
        "afresh on each forward pass; the tuned thresholds keep freed blocks in the heap for reuse.",
        f"Machine: {_machine()}; measured {datetime.date.today().isoformat()}.",
        "",
    ]
    return "\n".join(lines)


def _machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libc = " ".join(platform.libc_ver())
    return f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, {libc}"


def write_section(text: str) -> None:
    """Replace (or append) the "## Allocator" section of BENCHMARKS.md."""
    from transferlab.paths import atomic_write_text

    old = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    if SECTION in lines:
        start = lines.index(SECTION)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = text.rstrip("\n").splitlines() + ([""] if end < len(lines) else [])
    else:
        lines += ["", *text.rstrip("\n").splitlines()]
    atomic_write_text(BENCHMARKS, "\n".join(lines).rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--channels-last", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mallopt", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2, help="processes per setting, interleaved")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    # Rounds interleave the settings so that a burst of load elsewhere does not favour one.
    pooled: dict[str, list[float]] = {label: [] for label, _, _ in SETTINGS}
    for _ in range(args.rounds):
        for label, env, flags in SETTINGS:
            pooled[label] += measure(label, env, flags, args)
    results = [(label, statistics.median(rates)) for label, rates in pooled.items()]
    text = markdown(results, args)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
