"""Slow end to end: the clean and dedup assets through Dagster (checks included), and the dedup
stages on a local Ray instance giving the same corpus as the local executor."""

import os
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from test_dedup_pipeline import ingest_subsample

from assets.clean import clean_books, clean_reddit, clean_web
from assets.dedup import deduped_corpus, pretrain_corpus
from dedup.layers import run_clean, run_dedup
from foundation.settings import CleanConfig, Settings
from pipelines.resources import CleaningResource, StorageResource

pytestmark = pytest.mark.slow


def _texts(folder: Path) -> list[tuple[str, str]]:
    rows = [
        r
        for p in sorted(folder.glob("*.parquet"))
        for r in pq.read_table(p, columns=["id", "text"]).to_pylist()
    ]
    return sorted((r["id"], r["text"]) for r in rows)


def test_assets_materialize_with_passing_checks(settings: Settings) -> None:
    ingest_subsample(settings)
    result = dg.materialize(
        [clean_web, clean_books, clean_reddit, deduped_corpus, pretrain_corpus],
        resources={
            "storage": StorageResource(artifacts_dir=str(settings.artifacts_dir)),
            "cleaning": CleaningResource(workers=2),
        },
        run_config={"ops": {"deduped_corpus": {"config": {"decontaminate": False}}}},
    )
    assert result.success
    checks = {
        (c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()
    }
    assert len(checks) == 3 * 2 + 4 + 2
    assert all(checks.values()), {k: v for k, v in checks.items() if not v}
    metadata = result.asset_materializations_for_node("deduped_corpus")[0].metadata
    assert metadata["dedup_rate"].value > 0
    assert metadata["documents"].value == len(_texts(settings.layout.deduped_dir))


def test_ray_executor_gives_the_same_corpus(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest_subsample(settings)
    local = CleanConfig(workers=2)
    for source in ("web", "books", "reddit"):
        run_clean(source, settings, local)
    run_dedup(settings, local, [])
    expected = _texts(settings.layout.deduped_dir)
    ray = pytest.importorskip("ray")
    try:
        run = run_dedup(settings, CleanConfig(workers=2, executor="ray"), [])
    finally:
        ray.shutdown()
    assert not run.problems
    assert _texts(settings.layout.deduped_dir) == expected
    assert os.path.exists(settings.layout.work_dir("deduped_corpus") / "logs" / "6_filter" / "stats")
