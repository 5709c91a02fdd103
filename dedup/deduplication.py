"""Cross-source deduplication of the clean layer, then decontamination, as datatrove stages.

Stages (the same pipeline objects under every executor):

1. exact signatures  reader → SurvivorKeys → ExactDedupSignature (hash of the normalised full text)
2. exact duplicates  ExactSurvivors (one task; each group keeps its smallest survivor key)
3. MinHash signatures  reader → ExactDedupFilter → SurvivorKeys → DedupView → FastMinhashSignature
4. MinHash buckets  MinhashDedupBuckets (one task per bucket)
5. MinHash clusters  ClusterSurvivors (one task; each cluster keeps its smallest survivor key)
6. filter  reader → ExactDedupFilter → MinhashDedupFilter → Decontaminate → writer

Stages 3 and 6 drop exact duplicates first, so both see the same document order and MinHash's
per-task document positions line up. Which document survives is ``dedup.survivors``' rule, a
function of the documents alone, so the corpus is the same for any worker count or executor.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from datatrove.pipeline.dedup import (
    ExactDedupFilter,
    ExactDedupSignature,
    ExactFindDedups,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)

from dedup.cleaning import Exclusions
from dedup.decontaminate import Decontaminate
from dedup.documents import DocumentReader, DocumentWriter
from dedup.executors import Stage, run_stages
from dedup.minhash import DedupView, FastMinhashSignature, exact_config, minhash_config
from dedup.stats import LayerStats, StepStats, read_stage_stats
from dedup.survivors import ClusterSurvivors, ExactSurvivors, SurvivorKeys
from foundation.atomic import replace_directory
from foundation.layout import SOURCES
from foundation.settings import CleanConfig, Settings


def clean_shards(settings: Settings) -> list[Path]:
    """Every clean shard, in the fixed order that gives MinHash its file ranks."""
    return [p for s in SOURCES for p in sorted(settings.layout.clean_dir(s).glob("*.parquet"))]


class _CleanReader(DocumentReader):
    """All clean shards, split over tasks by rank (task r reads files r, r+N, ... of the sorted list)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(str(settings.layout.clean_root), glob_pattern="*/*.parquet")


def dedup_stages(
    settings: Settings, config: CleanConfig, evaluation_texts: list[str], work: Path, reference: bool = False
) -> list[Stage]:
    """The six stages. ``reference=True`` swaps in datatrove's stock pieces with their defaults
    (``simplify_text`` normalisation, spaCy-tokenized shingles, survivors by task order and
    union-by-size clustering): the peer of ``benchmarks/dedup_throughput.py``."""
    tasks = config.tasks_for(len(clean_shards(settings)))
    exact, minhash = exact_config(reference), minhash_config(config)
    signatures = (
        (lambda folder: MinhashDedupSignature(folder, minhash))
        if reference
        else (lambda folder: FastMinhashSignature(folder, minhash, config.minhash_min_words))
    )
    exact_keys, minhash_keys = str(work / "exact/keys"), str(work / "minhash/keys")
    if reference:
        find_exact = ExactFindDedups(str(work / "exact/sigs"), str(work / "exact/dups"), exact)
        clusters = MinhashDedupCluster(
            str(work / "minhash/buckets"), str(work / "minhash/clusters"), minhash, True, True
        )
    else:
        find_exact = ExactSurvivors(str(work / "exact/sigs"), exact_keys, str(work / "exact/dups"), exact)
        clusters = ClusterSurvivors(
            str(work / "minhash/buckets"),
            minhash_keys,
            str(work / "minhash/clusters"),
            str(work / "minhash/sigs"),
            minhash,
            config.minhash_min_similarity,
        )
    excluded = Exclusions(work / "excluded")
    reader = lambda: _CleanReader(settings)  # noqa: E731 - a fresh reader per stage
    keys = lambda folder: [] if reference else [SurvivorKeys(folder)]  # noqa: E731
    return [
        Stage(
            "exact_signatures",
            [reader(), *keys(exact_keys), ExactDedupSignature(str(work / "exact/sigs"), exact)],
            tasks,
            work / "logs/1_exact_signatures",
        ),
        Stage(
            "exact_find",
            [find_exact],
            1,
            work / "logs/2_exact_find",
        ),
        Stage(
            "minhash_signatures",
            [
                reader(),
                ExactDedupFilter(str(work / "exact/dups"), exact),
                *keys(minhash_keys),
                DedupView(),
                signatures(str(work / "minhash/sigs")),
            ],
            tasks,
            work / "logs/3_minhash_signatures",
        ),
        Stage(
            "minhash_buckets",
            [MinhashDedupBuckets(str(work / "minhash/sigs"), str(work / "minhash/buckets"), config=minhash)],
            config.minhash_buckets,
            work / "logs/4_minhash_buckets",
        ),
        Stage(
            "minhash_clusters",
            [clusters],
            1,
            work / "logs/5_minhash_clusters",
        ),
        Stage(
            "filter",
            [
                reader(),
                ExactDedupFilter(
                    str(work / "exact/dups"), exact, exclusion_writer=excluded("exact", "exact_duplicate")
                ),
                MinhashDedupFilter(
                    str(work / "minhash/clusters"),
                    exclusion_writer=excluded("minhash", "near_duplicate"),
                    load_cluster_ids=True,
                    load_cluster_sizes=True,
                ),
                Decontaminate(
                    evaluation_texts,
                    config.decontamination_ngram,
                    exclusion_writer=excluded("decontamination"),
                ),
                DocumentWriter(str(work / "output")),
            ],
            tasks,
            work / "logs/6_filter",
        ),
    ]


def _as_skipped(counter: str) -> str:
    return "skipped" + counter.removeprefix("dropped") if counter.startswith("dropped") else counter


def deduplicate(
    settings: Settings, config: CleanConfig, evaluation_texts: list[str], reference: bool = False
) -> LayerStats:
    """Runs all dedup stages over the clean layer and swaps ``deduped/`` into place."""
    if not clean_shards(settings):
        raise FileNotFoundError(
            f"no clean shards under {settings.layout.clean_root}: materialize clean_web, clean_books "
            "and clean_reddit first (`python -m dedup clean`)"
        )
    work = settings.layout.work_dir("deduped_corpus")
    shutil.rmtree(work, ignore_errors=True)
    stages = dedup_stages(settings, config, evaluation_texts, work, reference)
    run_stages(stages, config)
    steps: list[StepStats] = []
    for stage in stages:
        for step in read_stage_stats(stage.name, stage.logging_dir).steps:
            step.index = len(steps)
            step.name = f"{stage.name}: {step.name}"
            if stage is not stages[-1]:  # stage 3 skips exact duplicates that stage 6 drops and counts
                step.counters = {_as_skipped(k): v for k, v in step.counters.items()}
            steps.append(step)
    replace_directory(work / "output", settings.layout.deduped_dir)
    replace_directory(work / "excluded", settings.layout.excluded_dir("deduped_corpus"))
    return LayerStats("deduped_corpus", steps)
