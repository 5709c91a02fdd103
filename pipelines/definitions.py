"""The one Definitions object: every asset, check, job, schedule, sensor and resource, listed here.

Adding an asset group means adding its module to ``ASSET_MODULES``; jobs, schedules, sensors and
resources are listed by name below.
"""

from __future__ import annotations

from dagster import (
    Definitions,
    PipesSubprocessClient,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)

from assets import clean, datasets, dedup, evaluation, ingest, tokenizer, training
from foundation.settings import Settings
from pipelines.jobs import data_refresh, ingest_files, phase1, phase2, phase3, rosie_main
from pipelines.resources import CatalogResource, CleaningResource, StorageResource
from pipelines.schedules import data_refresh_schedule, new_source_files_sensor

ASSET_MODULES = [ingest, clean, dedup, datasets, tokenizer, training, evaluation]

_settings = Settings.from_env()  # what the schedule and sensor are defined with (cron, interval, on/off)
_storage = StorageResource()

defs = Definitions(
    assets=load_assets_from_modules(ASSET_MODULES),
    asset_checks=load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[data_refresh, ingest_files, phase1, phase2, phase3, rosie_main],
    schedules=[data_refresh_schedule(_settings)],
    sensors=[new_source_files_sensor(_settings)],
    resources={
        "storage": _storage,
        "catalog": CatalogResource(storage=_storage),
        "cleaning": CleaningResource(),
        "training_launcher": PipesSubprocessClient(),
    },
)
