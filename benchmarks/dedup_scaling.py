"""Cost of clean + dedup as the corpus grows: the sample, then 2x and 4x it with perturbed copies.

Copy k of every raw shard gets its own source file (``copy<k>/...``, so Reddit threads and book
chunks stay per file), ids prefixed ``copy<k>/`` and about 2% of its words replaced (seeded), so
the copies are near-duplicates of the originals, not exact ones: dedup has real clusters to build.
Each size runs the three cleaning pipelines and the dedup stages under the local executor; the
1x corpus runs once more on a local Ray instance, whose deduped corpus must equal the local one
row for row.

Reported per run: raw documents, seconds, documents per second per worker, and peak memory: the
largest resident set of the whole process tree (this process, datatrove's workers, Ray's), sampled
every 0.2 s from /proc, with the load average before and after (the machine is shared).

    PYTHONPATH=. .venv/bin/python benchmarks/dedup_scaling.py [--workers 2] [--sizes 1 2 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.dedup_common import ingest_sample, report
from dedup.layers import run_clean, run_dedup
from foundation.hashing import text_hash
from foundation.layout import SOURCES
from foundation.settings import CleanConfig, Settings

PERTURBED_SHARE = 0.02
SAMPLE_SECONDS = 0.2


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (Linux /proc)."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    todo += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # the process ended while it was read
    return total


class PeakMemory:
    """Samples the process tree's resident memory in a thread; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def perturb(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * PERTURBED_SHARE))):
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return " ".join(words)


def grow(base: Settings, target: Settings, copies: int, seed: int) -> int:
    """``target``'s raw layer: ``base``'s shards plus ``copies`` perturbed copies of each; returns
    the number of raw documents."""
    rng = random.Random(seed)
    shutil.copytree(base.layout.artifacts / "raw", target.layout.artifacts / "raw")
    shards = sorted((base.layout.artifacts / "raw").rglob("*.parquet"))
    texts = [t for p in shards[:5] for t in pq.read_table(p, columns=["text"])["text"].to_pylist()[:50]]
    vocabulary = [w for t in texts for w in t.split()[:40]]
    documents = 0
    for shard in shards:
        table = pq.read_table(shard)
        documents += table.num_rows * (copies + 1)
        source = shard.relative_to(base.layout.artifacts / "raw").parts[0]
        for k in range(1, copies + 1):
            rows = []
            for row in table.to_pylist():
                text = perturb(row["text"], rng, vocabulary)
                rows.append(
                    row
                    | {
                        "id": f"copy{k}/{row['id']}",
                        "source_file": f"{source}/copy{k}/{row['source_file'].partition('/')[2]}",
                        "text": text,
                        "content_hash": text_hash(text),
                    }
                )
            out = target.layout.raw_dir(source) / f"copy{k}" / shard.relative_to(base.layout.raw_dir(source))
            out.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), out)
    return documents


def clean_and_dedup(settings: Settings, config: CleanConfig, documents: int, workers: int) -> dict:
    load_before = os.getloadavg()
    started = time.perf_counter()
    with PeakMemory() as memory:
        seconds = {}
        for source in SOURCES:
            t = time.perf_counter()
            run_clean(source, settings, config)
            seconds[f"clean_{source}"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        dedup = run_dedup(settings, config, [])
        seconds["dedup"] = round(time.perf_counter() - t, 1)
    total = time.perf_counter() - started
    return {
        "raw_documents": documents,
        "deduped_documents": dedup.rows_out,
        "dropped": dedup.dropped,
        "count_problems": dedup.problems,
        "seconds": round(total, 1),
        "seconds_by_stage": seconds,
        "docs_per_s_per_worker": round(documents / total / workers, 1),
        "peak_memory_mb": round(memory.peak / 2**20),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def corpus(settings: Settings) -> list[tuple]:
    rows = [
        r for p in sorted(settings.layout.deduped_dir.glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    ]
    return sorted(tuple(r.items()) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dedup_scaling_"))
    settings = lambda name: Settings.from_env(  # noqa: E731
        artifacts_dir=work / name, model_dir=work / "models", preset="demo"
    )
    base = settings("sample")
    ingest_sample(base)
    config = CleanConfig(workers=args.workers)
    runs = {}
    for size in args.sizes:
        target = settings(f"x{size}")
        documents = grow(base, target, size - 1, args.seed)
        runs[f"{size}x local"] = clean_and_dedup(target, config, documents, args.workers)
        print(json.dumps({f"{size}x local": runs[f"{size}x local"]}), flush=True)
    ray_settings = settings("x1_ray")
    documents = grow(base, ray_settings, 0, args.seed)
    import ray

    try:
        ray_config = CleanConfig(workers=args.workers, executor="ray")
        runs["1x ray"] = clean_and_dedup(ray_settings, ray_config, documents, args.workers)
    finally:
        ray.shutdown()
    if 1 in args.sizes:
        runs["1x ray"]["same_corpus_as_local"] = corpus(ray_settings) == corpus(settings("x1"))
    report({"workers": args.workers, "runs": runs}, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
