"""The ingest group through Dagster: real (ephemeral) instance, real files, real DuckDB catalog."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.ingest import raw_books, raw_reddit, raw_web
from dedup.__main__ import main as dedup_cli
from foundation.settings import Settings
from pipelines.partitions import SOURCE_FILES
from pipelines.resources import CatalogResource, StorageResource
from pipelines.schedules import data_refresh_schedule, new_source_files_sensor

SUBSET = [
    "web/warcio/example.warc.gz",
    "web/whirlwind_cc/whirlwind.warc.wet.gz",
    "web/dolma_cc_en_head/cc_en_head-0091.jsonl.gz",
    "books/nltk_gutenberg/blake-poems.txt",
    "books/gutenberg_full/books__pg7256.txt",
    "reddit/leahrnh_reddit_pairs_2015-03-21/weather_2015-03-21.json",
]


@pytest.fixture
def small_root(tmp_path: Path, data_root: Path) -> Path:
    """A data root holding links to a few real sample files (one per format)."""
    root = tmp_path / "data"
    for relative in SUBSET:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).symlink_to(data_root / relative)
    return root


def resources(root: Path, tmp_path: Path) -> dict:
    storage = StorageResource(
        data_root=str(root), artifacts_dir=str(tmp_path / "artifacts"), model_dir=str(tmp_path / "m")
    )
    return {"storage": storage, "catalog": CatalogResource(storage=storage)}


def test_unpartitioned_materialization_ingests_every_file(small_root, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [raw_web, raw_books, raw_reddit], instance=instance, resources=resources(small_root, tmp_path)
    )
    assert result.success
    assert sorted(instance.get_dynamic_partitions(SOURCE_FILES.name)) == sorted(SUBSET)
    assert instance.get_materialized_partitions(dg.AssetKey("raw_web")) == {
        p for p in SUBSET if p.startswith("web/")
    }

    web = result.asset_materializations_for_node("raw_web")
    summary = next(m for m in web if m.partition is None).metadata
    assert summary["files"].value == 3 and summary["documents"].value == 1 + 1 + 10
    assert summary["quarantined_total"].value == 0 and len(summary["input_sha256"].value) == 64
    per_file = {m.partition: m.metadata for m in web if m.partition}
    wet = per_file["web/whirlwind_cc/whirlwind.warc.wet.gz"]
    assert wet["documents"].value == 1 and wet["bytes"].value > 0
    assert wet["input_sha256"].value == "b2f1db3943b2bfbb34ad807c36e5eff315cc28efd474edf5a91cbb4962a1deef"

    with duckdb.connect(str(tmp_path / "artifacts" / "catalog.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT source, count(*) FROM raw_books GROUP BY source").fetchall())
        assert counts == {"books": 2}
        assert con.execute("SELECT count(*) FROM raw_reddit").fetchone()[0] == 50
        stats = con.execute(
            "SELECT sum(records_in), sum(kept) FROM ingest_stats WHERE source = 'web'"
        ).fetchone()
        assert stats == (2 + 6 + 10, 12)


def _ingest_stats(artifacts: Path) -> list[tuple]:
    """The ``ingest_stats`` rows without run-specific columns (timings, where the artifacts are)."""
    with duckdb.connect(str(artifacts / "catalog.duckdb"), read_only=True) as con:
        cursor = con.execute("SELECT * EXCLUDE (seconds, ingested_at) FROM ingest_stats ORDER BY source_file")
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for column in ("shard", "quarantine_file"):
            row[column] = row[column] and str(Path(row[column]).relative_to(artifacts))
    return [tuple(row.items()) for row in rows]


def test_cli_ingest_writes_the_same_catalog_as_the_assets(small_root, tmp_path, monkeypatch):
    dg.materialize(
        [raw_web, raw_books, raw_reddit],
        instance=dg.DagsterInstance.ephemeral(),
        resources=resources(small_root, tmp_path),
    )
    monkeypatch.setenv("ROSIE_DATA_ROOT", str(small_root))
    monkeypatch.setenv("ROSIE_ARTIFACTS_DIR", str(tmp_path / "cli"))
    assert dedup_cli(["ingest"]) == 0
    expected = _ingest_stats(tmp_path / "artifacts")
    assert len(expected) == len(SUBSET) and _ingest_stats(tmp_path / "cli") == expected
    with duckdb.connect(
        str(tmp_path / "cli" / "catalog.duckdb"), read_only=True
    ) as con:  # the README's query
        totals = con.execute(
            "SELECT source, sum(records_in), sum(kept), sum(skipped_total), sum(quarantined_total) "
            "FROM ingest_stats GROUP BY source ORDER BY source"
        ).fetchall()
        assert [row[0] for row in totals] == ["books", "reddit", "web"]
        assert con.execute("SELECT count(*) FROM raw_web").fetchone()[0] == 12


def test_one_partition_ingests_one_file(small_root, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    key = "books/nltk_gutenberg/blake-poems.txt"
    instance.add_dynamic_partitions(SOURCE_FILES.name, [key])
    result = dg.materialize(
        [raw_books], partition_key=key, instance=instance, resources=resources(small_root, tmp_path)
    )
    [materialization] = result.asset_materializations_for_node("raw_books")
    assert materialization.partition == key and materialization.metadata["documents"].value == 1
    assert materialization.metadata["quarantined"].value == {}
    assert (tmp_path / "artifacts/raw/books/nltk_gutenberg/blake-poems.txt.parquet").exists()
    assert not (tmp_path / "artifacts/raw/books/gutenberg_full").exists()


def test_sensor_requests_ingestion_of_new_files_only(small_root, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    storage = resources(small_root, tmp_path)["storage"]
    sensor = new_source_files_sensor(Settings.from_env())
    first = sensor(dg.build_sensor_context(instance=instance, resources={"storage": storage}))
    assert sorted(r.partition_key for r in first.run_requests) == sorted(SUBSET)
    request = next(r for r in first.run_requests if r.partition_key.startswith("books/"))
    assert request.asset_selection == [dg.AssetKey("raw_books")]
    instance.add_dynamic_partitions(SOURCE_FILES.name, first.dynamic_partitions_requests[0].partition_keys)

    idle = sensor(dg.build_sensor_context(instance=instance, resources={"storage": storage}))
    assert not idle.run_requests and "no new files" in idle.skip_reason.skip_message

    (small_root / "reddit/new.jsonl").write_text('{"id": "a1", "body": "hello", "parent_id": "t3_x"}\n')
    second = sensor(dg.build_sensor_context(instance=instance, resources={"storage": storage}))
    assert [r.partition_key for r in second.run_requests] == ["reddit/new.jsonl"]
    assert second.run_requests[0].asset_selection == [dg.AssetKey("raw_reddit")]


def test_sensor_takes_a_batch_of_files_per_tick(small_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ROSIE_SENSOR_MAX_RUNS", "4")
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(
        instance=instance, resources={"storage": resources(small_root, tmp_path)["storage"]}
    )
    seen = []
    for expected in (4, 2):
        tick = new_source_files_sensor(Settings.from_env())(context)
        assert len(tick.run_requests) == expected
        instance.add_dynamic_partitions(SOURCE_FILES.name, tick.dynamic_partitions_requests[0].partition_keys)
        seen += [r.partition_key for r in tick.run_requests]
    assert sorted(seen) == sorted(SUBSET)


def test_data_refresh_job_schedule_and_sensor_are_defined():
    from pipelines.definitions import defs

    job = defs.resolve_job_def("data_refresh")
    assert {"raw_web", "raw_books", "raw_reddit"} <= {
        key.to_user_string() for key in job.asset_layer.selected_asset_keys
    }
    schedule = defs.resolve_schedule_def("data_refresh_daily")
    assert (
        schedule.cron_schedule == "0 3 * * *" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    )
    assert defs.resolve_sensor_def("new_source_files").job_name == "ingest_files"


def test_schedule_and_sensor_are_configured_by_environment(monkeypatch):
    monkeypatch.setenv("ROSIE_REFRESH_CRON", "30 1 * * 1")
    monkeypatch.setenv("ROSIE_REFRESH_SCHEDULE", "off")
    monkeypatch.setenv("ROSIE_SENSOR_INTERVAL_S", "300")
    settings = Settings.from_env()
    schedule = data_refresh_schedule(settings)
    assert schedule.cron_schedule == "30 1 * * 1"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert new_source_files_sensor(settings).minimum_interval_seconds == 300


def test_run_launcher_waits_only_for_the_job_launch_cli():
    from pipelines.run_launcher import launched_from_cli

    assert launched_from_cli(["/repo/.venv/bin/dagster", "job", "launch", "-j", "data_refresh"])
    assert not launched_from_cli(["/repo/.venv/bin/dagster-webserver", "-w", "workspace.yaml"])
    assert not launched_from_cli(["/repo/.venv/bin/dagster", "dev"])
    assert not launched_from_cli(["/repo/.venv/bin/dagster-daemon", "run"])


def test_wait_for_run_raises_when_the_run_failed():
    from pipelines.run_launcher import RunFailedError, wait_for_run

    @dg.asset
    def broken() -> None:
        raise ValueError("boom")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([broken], instance=instance, raise_on_error=False)
    with pytest.raises(RunFailedError, match="ended FAILURE"):
        wait_for_run(instance, result.run_id, poll_s=0.01)


def test_refresh_reads_only_new_and_changed_files_unless_forced(small_root, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    assets, res = [raw_books], resources(small_root, tmp_path)
    shard = tmp_path / "artifacts/raw/books/nltk_gutenberg/blake-poems.txt.parquet"

    def summary(run_config: dict | None = None) -> dict:
        result = dg.materialize(assets, instance=instance, resources=res, run_config=run_config)
        return next(
            m for m in result.asset_materializations_for_node("raw_books") if m.partition is None
        ).metadata

    assert summary()["files_unchanged"].value == 0
    first_write = shard.stat().st_mtime_ns
    again = summary()
    assert again["files_unchanged"].value == 2 and again["documents"].value == 2  # totals still complete
    assert shard.stat().st_mtime_ns == first_write

    blake = small_root / "books/nltk_gutenberg/blake-poems.txt"
    text = blake.read_bytes()
    blake.unlink()  # the fixture's symlink: replace it with a changed copy
    blake.write_bytes(text + b"\nOne more line.\n")
    assert summary()["files_unchanged"].value == 1
    forced = summary({"ops": {"raw_books": {"config": {"force": True}}}})
    assert forced["files_unchanged"].value == 0
