"""The clean, deduped and pretrain layers end to end: run the pipeline, publish its statistics
and views to the DuckDB catalog, and check that every document is accounted for.

Both entry points use this module: the Dagster assets (``assets/clean.py``, ``assets/dedup.py``)
and the CLI (``python -m dedup``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from dedup.catalog import refresh_views, register_layer
from dedup.cleaning import clean_source, raw_shards
from dedup.config import SOURCES, CleanConfig
from dedup.decontaminate import evaluation_texts
from dedup.deduplication import clean_shards, deduplicate
from dedup.pretrain import build_pretrain
from dedup.stats import LayerStats, conservation_problems, record_stats
from pipelines.resources import CatalogResource
from pipelines.settings import Settings


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
    with CatalogResource(path=str(settings.catalog_path)).connect() as con:
        record_stats(con, table, stats)
        refresh_views(con, settings)
        register_layer(con, f"excluded_{stats.layer}", settings.layer_dir(f"excluded/{stats.layer}"))
    return run


def run_clean(source: str, settings: Settings, config: CleanConfig) -> LayerRun:
    inputs = raw_shards(settings, source)
    stats = clean_source(source, settings, config)
    return _finish(settings, stats, "filter_stats", inputs, settings.layer_dir(f"clean/{source}"), stats)


def run_dedup(settings: Settings, config: CleanConfig, eval_texts: list[str] | None = None) -> LayerRun:
    """Dedups the clean layer; decontaminates against ``eval_texts`` (default: the datasets')."""
    inputs = clean_shards(settings)
    texts = evaluation_texts(settings) if eval_texts is None else eval_texts
    stats = deduplicate(settings, config, texts)
    last_stage = LayerStats(stats.layer, [s for s in stats.steps if s.name.startswith("filter:")])
    return _finish(settings, stats, "dedup_stats", inputs, settings.layer_dir("deduped"), last_stage)


def run_pretrain(settings: Settings, config: CleanConfig) -> LayerRun:
    inputs = sorted(settings.layer_dir("deduped").glob("*.parquet"))
    stats = build_pretrain(settings, config)
    return _finish(settings, stats, "dedup_stats", inputs, settings.layer_dir("pretrain"), stats)


def raw_to_deduped_problems(settings: Settings, dedup_run: LayerRun) -> list[str]:
    """Count conservation across layers: every raw row is kept or dropped with a reason in its
    clean layer (checked from that run's recorded step statistics), every clean row reaches dedup,
    and every dedup input is kept or dropped with a reason."""
    from dedup.cleaning import layer_logs
    from dedup.stats import read_stage_stats

    problems = list(dedup_run.problems)
    clean_rows = 0
    for source in SOURCES:
        logs = layer_logs(settings, f"clean_{source}")
        if not logs.exists():
            problems.append(f"clean_{source}: no run statistics in {logs}")
            continue
        stats = read_stage_stats(f"clean_{source}", logs)
        rows_in = count_rows(raw_shards(settings, source))
        problems += [f"clean_{source}: {p}" for p in conservation_problems(stats, rows_in)]
        clean_rows += count_rows(sorted(settings.layer_dir(f"clean/{source}").glob("*.parquet")))
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
