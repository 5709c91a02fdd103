"""Throughput of the clean + dedup layers on the sample data, against the reference
FineWeb-style datatrove pipeline run in the same process on the same input.

Ours: the three cleaning pipelines (web, books, reddit) and the dedup stages, as the assets run
them. Peer, with datatrove's stock steps and default settings wherever datatrove has the step:

- web: URLFilter (stock lists as a Python set; tldextract offline, as stock would fetch),
  Trafilatura (on HTML records), language ID (py3langid: datatrove's stock filter downloads a
  fastText model), Gopher repetition, Gopher quality, C4 (``filter_no_terminal_punct=False``),
  FineWeb quality (spaCy tokenization), PIIFormatter;
- dedup over the same clean layer: exact dedup on ``simplify_text``, MinHash stage 1 with spaCy
  word tokenization, stock union-by-size clustering, stock filter.

FineWeb has no book or Reddit steps, so those are timed for ours only. Runs alternate ours/peer
so background load hits both alike, ``--repeat`` times (3): seconds are medians, speedups the
median of the per-repetition ratios; figures per core divide by the worker count.

    PYTHONPATH=. .venv/bin/python benchmarks/dedup_throughput.py [--workers 2] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    URLFilter,
)
from datatrove.pipeline.formatters import PIIFormatter

from benchmarks.dedup_common import ingest_sample, report
from dedup.cleaning import Exclusions, clean_source, raw_shards
from dedup.deduplication import clean_shards, deduplicate
from dedup.language import LanguageFilter
from dedup.web import HtmlExtraction
from foundation.layout import SOURCES
from foundation.settings import CleanConfig, Settings


def reference_web_steps(config: CleanConfig, excluded: Exclusions) -> list:
    from tldextract import TLDExtract

    urls = URLFilter(exclusion_writer=excluded("url"))
    urls.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)
    return [
        urls,
        HtmlExtraction(exclusion_writer=excluded("extraction")),
        LanguageFilter(config.language, config.language_threshold, exclusion_writer=excluded("language")),
        GopherRepetitionFilter(exclusion_writer=excluded("gopher_repetition")),
        GopherQualityFilter(exclusion_writer=excluded("gopher_quality")),
        C4QualityFilter(filter_no_terminal_punct=False, exclusion_writer=excluded("c4")),
        FineWebQualityFilter(exclusion_writer=excluded("fineweb")),
        PIIFormatter(),
    ]


def text_bytes(paths: list[Path]) -> tuple[int, int]:
    """(documents, UTF-8 bytes of text) in DOCUMENT_SCHEMA shards."""
    docs = size = 0
    for path in paths:
        texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
        docs += len(texts)
        size += sum(len(t.encode()) for t in texts)
    return docs, size


def kept_ids(settings: Settings, source: str) -> set[str]:
    return {
        i
        for p in settings.layout.clean_dir(source).glob("*.parquet")
        for i in pq.read_table(p, columns=["id"])["id"].to_pylist()
    }


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def rates(docs: int, size: int, seconds: float, workers: int) -> dict:
    return {
        "documents": docs,
        "mb": round(size / 1e6, 2),
        "seconds": round(seconds, 2),
        "docs_per_s_per_core": round(docs / seconds / workers, 1),
        "mb_per_s_per_core": round(size / 1e6 / seconds / workers, 3),
    }


def median_ratio(peer: list[float], ours: list[float]) -> float:
    """Median over repetitions of peer seconds / our seconds (both timed in the same repetition)."""
    return round(statistics.median(p / o for p, o in zip(peer, ours, strict=True)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (medians are reported)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dedup_throughput_"))
    data_root = Settings.from_env().data_root
    ours, peer, peer_dedup = (
        Settings.from_env(
            data_root=data_root, artifacts_dir=work / n, model_dir=work / "models", preset="demo"
        )
        for n in ("ours", "peer", "peer_dedup")
    )
    ingest_sample(ours)
    (work / "peer").mkdir()
    (work / "peer" / "raw").symlink_to(ours.layout.artifacts / "raw")
    config = CleanConfig(workers=args.workers)
    spacy = CleanConfig(workers=args.workers, word_tokenizer="datatrove")
    # warm-up outside the clock: the URL blocklist index and spaCy's first load
    clean_source("web", peer, spacy, reference_web_steps)

    raw = {s: text_bytes(raw_shards(ours, s)) for s in SOURCES}
    (work / "peer_dedup").mkdir()
    (work / "peer_dedup" / "clean").symlink_to(ours.layout.clean_root)
    runs = {
        "ours_web": lambda: clean_source("web", ours, config),
        "peer_web": lambda: clean_source("web", peer, spacy, reference_web_steps),
        "ours_books": lambda: clean_source("books", ours, config),
        "ours_reddit": lambda: clean_source("reddit", ours, config),
        "ours_dedup": lambda: deduplicate(ours, config, []),
        "peer_dedup": lambda: deduplicate(peer_dedup, config, [], reference=True),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    loads = []
    for _ in range(args.repeat):  # ours and the peer alternate, so background load hits both alike
        loads.append(os.getloadavg())
        for name, run in runs.items():
            times[name].append(timed(run))
    seconds = {name: statistics.median(values) for name, values in times.items()}
    dedup_in = text_bytes(clean_shards(ours))

    ours_web, peer_web = kept_ids(ours, "web"), kept_ids(peer, "web")
    total_docs = sum(d for d, _ in raw.values())
    total_bytes = sum(b for _, b in raw.values())
    clean_total = seconds["ours_web"] + seconds["ours_books"] + seconds["ours_reddit"]
    result = {
        "workers": args.workers,
        "repetitions": args.repeat,
        "ours_clean_plus_dedup": rates(
            total_docs, total_bytes, clean_total + seconds["ours_dedup"], args.workers
        ),
        "ours_clean": {s: rates(*raw[s], seconds[f"ours_{s}"], args.workers) for s in SOURCES},
        "web_clean": {
            "ours": rates(*raw["web"], seconds["ours_web"], args.workers),
            "peer": rates(*raw["web"], seconds["peer_web"], args.workers),
            "speedup_median": median_ratio(times["peer_web"], times["ours_web"]),
            "kept_ours": len(ours_web),
            "kept_peer": len(peer_web),
            "same_decision_share": round(1 - len(ours_web ^ peer_web) / raw["web"][0], 4),
        },
        "dedup": {
            "ours": rates(*dedup_in, seconds["ours_dedup"], args.workers),
            "peer": rates(*dedup_in, seconds["peer_dedup"], args.workers),
            "speedup_median": median_ratio(times["peer_dedup"], times["ours_dedup"]),
        },
        "seconds_each_repetition": {name: [round(t, 1) for t in values] for name, values in times.items()},
        "load_average_each_repetition": loads,
        "load_average_end": os.getloadavg(),
    }
    report(result, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
