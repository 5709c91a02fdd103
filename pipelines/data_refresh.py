"""The ``data_refresh`` job, its daily schedule, and the sensor that ingests new raw files.

- ``data_refresh``: every asset of the ``ingest``, ``clean``, ``dedup`` and ``datasets`` groups,
  unpartitioned. Launched without a partition, the raw assets register any new file as a
  partition and ingest every file, so one command refreshes everything.
- ``ingest_files``: the raw assets for one partition (one source file); the sensor's target.
- Schedule: daily at ``ROSIE_REFRESH_CRON`` (default ``0 3 * * *``, UTC), on by default;
  ``ROSIE_REFRESH_SCHEDULE=off`` ships it stopped.
- Sensor: every ``ROSIE_SENSOR_INTERVAL_S`` seconds (default 60) lists the data root; each file not
  yet a partition becomes one, and a run of its raw asset is requested (at most
  ``ROSIE_SENSOR_MAX_RUNS``, default 8, per tick).
"""

from __future__ import annotations

import os

import dagster as dg

from dedup.ingest import discover
from pipelines.resources import StorageResource

SOURCE_FILES = dg.DynamicPartitionsDefinition(name="source_files")
DATA_GROUPS = ("ingest", "clean", "dedup", "datasets")

data_refresh_job = dg.define_asset_job(
    "data_refresh",
    selection=dg.AssetSelection.groups(*DATA_GROUPS),
    description="Ingest every raw file, clean, deduplicate and build the datasets.",
)

ingest_files_job = dg.define_asset_job(
    "ingest_files",
    selection=dg.AssetSelection.groups("ingest"),
    partitions_def=SOURCE_FILES,
    description="Ingest one raw source file (one partition of raw_web / raw_books / raw_reddit).",
)


def _switch(name: str) -> dg.DefaultScheduleStatus:
    off = os.environ.get(name, "on").strip().lower() in ("0", "off", "false", "no")
    return dg.DefaultScheduleStatus.STOPPED if off else dg.DefaultScheduleStatus.RUNNING


data_refresh_schedule = dg.ScheduleDefinition(
    name="data_refresh_daily",
    job=data_refresh_job,
    cron_schedule=os.environ.get("ROSIE_REFRESH_CRON", "0 3 * * *"),
    execution_timezone="UTC",
    default_status=_switch("ROSIE_REFRESH_SCHEDULE"),
)


def raw_asset_for(source_file: str) -> dg.AssetKey:
    """``web/...`` -> ``raw_web``: the raw asset a source file is a partition of."""
    return dg.AssetKey(f"raw_{source_file.split('/', 1)[0]}")


@dg.sensor(
    job=ingest_files_job,
    minimum_interval_seconds=int(os.environ.get("ROSIE_SENSOR_INTERVAL_S", "60")),
    default_status=dg.DefaultSensorStatus(_switch("ROSIE_NEW_FILE_SENSOR").value),
    description="A new file in the data root becomes a source_files partition and is ingested.",
)
def new_source_files(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(SOURCE_FILES.name))
    found = [path for paths in discover(storage.settings.data_root).values() for path in paths]
    new = [path for path in found if path not in known]
    if not new:
        return dg.SensorResult(skip_reason=f"no new files among {len(found)}")
    # A first tick over a whole data root would start one run per file at once: take a batch per
    # tick; the rest stay unregistered, hence new, and come in the next ticks.
    new = new[: int(os.environ.get("ROSIE_SENSOR_MAX_RUNS", "8"))]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=path, partition_key=path, asset_selection=[raw_asset_for(path)])
            for path in new
        ],
        dynamic_partitions_requests=[SOURCE_FILES.build_add_request(new)],
    )
