"""The clean, deduped and pretrain layers end to end: run the pipeline, publish its statistics
and views to the DuckDB catalog, and check that every document is accounted for.

Both entry points use this module: the Dagster assets (``assets/clean.py``, ``assets/dedup.py``)
and the CLI (``python -m dedup``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from dedup.cleaning import clean_source, raw_shards
from dedup.deduplication import clean_shards, deduplicate
from dedup.pretrain import build_pretrain
from dedup.stats import LayerStats, conservation_problems, read_stage_stats, record_stats
from foundation.catalog import connect, refresh_views, register_layer
from foundation.layout import SOURCES
from foundation.settings import CleanConfig, Settings


@dataclass
class LayerRun:
    """What one layer's run produced, for asset metadata, checks and the CLI summary."""

    stats: LayerStats
    rows_in: int
    rows_out: int
    bytes_out: int
    output_dir: Path
    problems: list[str] = field(default_factory=list)

    @property
    def dropped(self) -> dict[str, int]:
        return self.stats.drop_reasons()


def count_rows(paths: list[Path]) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def _finish(
    settings: Settings, stats: LayerStats, table: str, inputs: list[Path], output_dir: Path, steps: LayerStats
) -> LayerRun:
    outputs = sorted(output_dir.glob("*.parquet"))
    run = LayerRun(
        stats=stats,
        rows_in=count_rows(inputs),
        rows_out=count_rows(outputs),
        bytes_out=sum(p.stat().st_size for p in outputs),
        output_dir=output_dir,
    )
    run.problems = conservation_problems(steps, run.rows_in)
    if steps.docs_out != run.rows_out:
        run.problems.append(f"writer wrote {steps.docs_out} documents, the shards hold {run.rows_out}")
    with connect(settings.layout.catalog_path) as con:
        record_stats(con, table, stats)
        refresh_views(con, settings.layout)
        register_layer(con, f"excluded_{stats.layer}", settings.layout.excluded_dir(stats.layer))
    return run


def run_clean(source: str, settings: Settings, config: CleanConfig) -> LayerRun:
    inputs = raw_shards(settings, source)
    stats = clean_source(source, settings, config)
    return _finish(settings, stats, "filter_stats", inputs, settings.layout.clean_dir(source), stats)


def run_dedup(settings: Settings, config: CleanConfig, evaluation_texts: list[str]) -> LayerRun:
    """Dedups the clean layer and drops documents sharing an n-gram with ``evaluation_texts``
    (the datasets' validation and test texts: ``labeling.datasets.evaluation_texts``)."""
    inputs = clean_shards(settings)
    stats = deduplicate(settings, config, evaluation_texts)
    last_stage = LayerStats(stats.layer, [s for s in stats.steps if s.name.startswith("filter:")])
    return _finish(settings, stats, "dedup_stats", inputs, settings.layout.deduped_dir, last_stage)


def run_pretrain(settings: Settings, config: CleanConfig) -> LayerRun:
    inputs = sorted(settings.layout.deduped_dir.glob("*.parquet"))
    stats = build_pretrain(settings, config)
    return _finish(settings, stats, "dedup_stats", inputs, settings.layout.pretrain_dir, stats)


def raw_to_deduped_problems(settings: Settings, dedup_run: LayerRun) -> list[str]:
    """Count conservation across layers: every raw row is kept or dropped with a reason in its
    clean layer (checked from that run's recorded step statistics), every clean row reaches dedup,
    and every dedup input is kept or dropped with a reason."""

    problems = list(dedup_run.problems)
    clean_rows = 0
    for source in SOURCES:
        logs = settings.layout.stage_logs(f"clean_{source}")
        if not logs.exists():
            problems.append(f"clean_{source}: no run statistics in {logs}")
            continue
        stats = read_stage_stats(f"clean_{source}", logs)
        rows_in = count_rows(raw_shards(settings, source))
        problems += [f"clean_{source}: {p}" for p in conservation_problems(stats, rows_in)]
        clean_rows += count_rows(sorted(settings.layout.clean_dir(source).glob("*.parquet")))
    if clean_rows != dedup_run.rows_in:
        problems.append(f"clean layers hold {clean_rows} documents, dedup read {dedup_run.rows_in}")
    return problems


def dedup_rate(run: LayerRun) -> float:
    """Share of dedup inputs dropped as exact or near duplicates."""
    duplicates = run.dropped.get("exact_duplicate", 0) + run.dropped.get("near_duplicate", 0)
    return duplicates / run.rows_in if run.rows_in else 0.0


def language_purity(run: LayerRun, language: str, sample: int) -> tuple[float, int]:
    """Share of an evenly spaced sample of output documents detected as ``language``."""
    from dedup.language import classify_language

    texts = [
        t
        for p in sorted(run.output_dir.glob("*.parquet"))
        for t in pq.read_table(p, columns=["text"])["text"].to_pylist()
    ]
    step = max(1, len(texts) // sample)
    picked = texts[::step][:sample]
    if not picked:
        return 0.0, 0
    return sum(classify_language(t)[0] == language for t in picked) / len(picked), len(picked)
