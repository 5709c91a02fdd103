"""What starts runs on its own: the daily data refresh, and the sensor that ingests new raw files.

- Schedule ``data_refresh_daily``: at ``ROSIE_REFRESH_CRON`` (default ``0 3 * * *``, UTC), on by
  default; ``ROSIE_REFRESH_SCHEDULE=off`` ships it stopped.
- Sensor ``new_source_files``: every ``ROSIE_SENSOR_INTERVAL_S`` seconds lists the data root; each
  file not yet a partition becomes one, and a run of its raw asset is requested (at most
  ``ROSIE_SENSOR_MAX_RUNS`` per tick). ``ROSIE_NEW_FILE_SENSOR=off`` ships it stopped.
"""

from __future__ import annotations

import dagster as dg

from dedup.ingest import discover
from foundation.settings import Settings
from pipelines.jobs import data_refresh, ingest_files
from pipelines.partitions import SOURCE_FILES, raw_asset_for
from pipelines.resources import StorageResource


def _status(on: bool) -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED


def data_refresh_schedule(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="data_refresh_daily",
        job=data_refresh,
        cron_schedule=settings.refresh_cron,
        execution_timezone="UTC",
        default_status=_status(settings.refresh_schedule),
    )


def new_source_files_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name="new_source_files",
        job=ingest_files,
        minimum_interval_seconds=settings.sensor_interval_s,
        default_status=dg.DefaultSensorStatus(_status(settings.new_file_sensor).value),
        description="A new file in the data root becomes a source_files partition and is ingested.",
    )
    def new_source_files(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
        tick_settings = storage.settings
        known = set(context.instance.get_dynamic_partitions(SOURCE_FILES.name))
        found = [path for paths in discover(tick_settings.data_root).values() for path in paths]
        new = [path for path in found if path not in known]
        if not new:
            return dg.SensorResult(skip_reason=f"no new files among {len(found)}")
        # A first tick over a whole data root would start one run per file at once: take a batch per
        # tick; the rest stay unregistered, hence new, and come in the next ticks.
        new = new[: tick_settings.sensor_max_runs]
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=path, partition_key=path, asset_selection=[raw_asset_for(path)])
                for path in new
            ],
            dynamic_partitions_requests=[SOURCE_FILES.build_add_request(new)],
        )

    return new_source_files
