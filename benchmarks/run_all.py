"""``make bench``: every speed benchmark against its peer, into ``benchmarks/results.json``, and the
README's table rendered from that file (``benchmarks/results_table.py``).

Sections (each can be rerun alone with ``--only``; the others keep their last figures):
train (demo and gpt768, ``bench_train.py``), precision (``precision_curves.py``), decode
(``decode_bench.py``), decode_quality (``decode_quality.py``: needs the trained model of ``make demo``),
tokenize (``bench_tokenizer.py --speed``), serving (``load_test.py``).

    PYTHONPATH=. .venv/bin/python benchmarks/run_all.py [--only train decode] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import time
from pathlib import Path

import torch

from benchmarks.results_table import RESULTS, update_readme

SECTIONS = ("train", "precision", "decode", "decode_quality", "tokenize", "serving")
SINGLE_RUN = {"precision", "decode_quality"}  # one loss curve per precision; one deterministic scoring


def cpu_name() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line), "")
    flags = [f for f in ("avx512_bf16", "amx_bf16") if f" {f}" in info]
    return f"{model or platform.processor()} ({', '.join(flags) or 'no bf16 units'})"


def run_section(name: str, repeats: int) -> object:
    if name == "train":
        from benchmarks.bench_train import run

        # 10 timed steps: the trainer's figure is the median of its last 10, so its first step
        # (allocations, first-touch of the shards) stays out of it as the loops' warm-up step does
        return run(["demo", "gpt768"], repeats=repeats, steps=10)
    if name == "precision":
        from benchmarks.precision_curves import run

        return run()
    if name == "decode":
        from benchmarks.decode_bench import run
        from model.engine import DECODE_PRECISIONS

        measured = run(["demo", "gpt768"], list(DECODE_PRECISIONS), 512, 64, repeats)
        return [dataclasses.asdict(m) for m in measured]
    if name == "decode_quality":
        from benchmarks.decode_quality import run

        return run()
    if name == "tokenize":
        from benchmarks.bench_tokenizer import encode_speed
        from foundation.settings import Settings

        return encode_speed(Settings.from_env().data_root, repeats=repeats)
    from benchmarks.load_test import serving_benchmark
    from model.engine import decode_precision

    # fp32 and what `rosie serve` picks here: bf16 where the CPU's bf16 matmul is faster
    precisions = dict.fromkeys(["fp32", decode_precision("auto")])
    return [
        serving_benchmark(preset="gpt768", clients=8, requests=2, max_new_tokens=32, precision=p)
        for p in precisions
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default torch's; 1 on a crowded machine)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.only:
        started = time.perf_counter()
        results[name] = run_section(name, args.repeats)
        results.setdefault("seconds", {})[name] = round(time.perf_counter() - started)
        results.setdefault("threads", {})[name] = torch.get_num_threads()
        results.setdefault("dates", {})[name] = datetime.date.today().isoformat()
        results.setdefault("repetitions", {})[name] = 1 if name in SINGLE_RUN else args.repeats
        results.update(
            generated=datetime.date.today().isoformat(),
            machine={"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__},
        )
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")  # after each section: a stop keeps the rest
        print(f"{name}: {results['seconds'][name]} s, load {os.getloadavg()[0]:.1f}", flush=True)
    update_readme(results)


if __name__ == "__main__":
    main()
