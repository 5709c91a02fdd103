"""Slow end to end: the clean and dedup assets through Dagster (checks included), and the clean
and dedup layers identical whatever the worker count or executor (local processes, Ray)."""

import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from test_dedup_determinism import corpus_rows
from test_dedup_pipeline import ingest_subsample

from assets.clean import clean_books, clean_reddit, clean_web
from assets.dedup import deduped_corpus, pretrain_corpus
from dedup.layers import run_clean, run_dedup
from foundation.layout import SOURCES
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


def _layers(settings: Settings) -> dict[str, list[tuple]]:
    layout = settings.layout
    folders = {f"clean_{s}": layout.clean_dir(s) for s in SOURCES} | {"deduped_corpus": layout.deduped_dir}
    return {name: corpus_rows(folder) for name, folder in folders.items()}


def test_same_layers_with_1_2_4_workers_and_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clean and dedup layers byte-identical (every column of every row) with 1, 2 and 4 worker
    processes and on a local Ray instance, each run in its own artifacts folder."""
    ray = pytest.importorskip("ray")
    layers = {}
    for name, config in [
        ("1", CleanConfig(workers=1)),
        ("2", CleanConfig(workers=2)),
        ("4", CleanConfig(workers=4)),
        ("ray", CleanConfig(workers=2, executor="ray")),
    ]:
        monkeypatch.setenv("ROSIE_ARTIFACTS_DIR", str(tmp_path / name))
        settings = Settings.from_env()
        ingest_subsample(settings)
        try:
            for source in SOURCES:
                assert not run_clean(source, settings, config).problems
            assert not run_dedup(settings, config, []).problems
        finally:
            ray.shutdown()
        layers[name] = _layers(settings)
        assert all(layers[name].values()), name
        text = json.dumps(layers[name], default=str)
        assert str(tmp_path) not in text, f"{name}: an absolute path leaked into the layers"
    for name in ("2", "4", "ray"):
        for layer, rows in layers[name].items():
            assert rows == layers["1"][layer], f"{layer} with {name} workers differs from 1 worker"
