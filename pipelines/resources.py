"""Dagster resources, environment-driven: a field left unset takes its ``ROSIE_*`` variable when the
run starts (docs/settings.md), and the UI's launchpad can set any field for one run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb
from dagster import ConfigurableResource

from foundation.catalog import connect
from foundation.settings import CleanConfig, Settings


class StorageResource(ConfigurableResource):
    """Where raw inputs live (any fsspec URL), where artifacts and models go, and the model preset."""

    data_root: str | None = None
    artifacts_dir: str | None = None
    model_dir: str | None = None
    preset: str | None = None

    @property
    def settings(self) -> Settings:
        return Settings.from_env(
            data_root=self.data_root,
            artifacts_dir=self.artifacts_dir,
            model_dir=self.model_dir,
            preset=self.preset,
        )


class CatalogResource(ConfigurableResource):
    """The DuckDB catalog of the storage's artifacts: one view per layer, plus statistics tables."""

    storage: StorageResource

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.storage.settings.layout.catalog_path) as con:
            yield con


class CleaningResource(ConfigurableResource):
    """Execution and language settings of the cleaning and dedup pipelines (``ROSIE_CLEAN_*``)."""

    executor: str | None = None
    workers: int | None = None
    language: str | None = None

    def config(self) -> CleanConfig:
        return CleanConfig.from_env(executor=self.executor, workers=self.workers, language=self.language)
