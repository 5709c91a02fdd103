"""Dagster resources, environment-driven. Assets receive these instead of reading env vars themselves."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from pipelines.settings import Settings

_DEFAULTS = Settings.from_env()


class StorageResource(ConfigurableResource):
    """Where raw inputs live (any fsspec URL) and where produced artifacts and models go."""

    data_root: str = _DEFAULTS.data_root
    artifacts_dir: str = str(_DEFAULTS.artifacts_dir)
    model_dir: str = str(_DEFAULTS.model_dir)

    @property
    def settings(self) -> Settings:
        return Settings(
            data_root=self.data_root,
            artifacts_dir=Path(self.artifacts_dir),
            model_dir=Path(self.model_dir),
            preset=_DEFAULTS.preset,
        )


class CatalogResource(ConfigurableResource):
    """The DuckDB catalog file: one view per layer over its Parquet shards, plus statistics tables."""

    path: str = str(_DEFAULTS.catalog_path)

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = _connect_with_retry(self.path)
        try:
            yield con
        finally:
            con.close()


def _connect_with_retry(path: str, attempts: int = 60, wait_s: float = 0.5) -> duckdb.DuckDBPyConnection:
    """DuckDB lets one process write a file at a time; parallel Dagster steps wait their turn."""
    for _ in range(attempts - 1):
        try:
            return duckdb.connect(path)
        except duckdb.IOException:
            time.sleep(wait_s)
    return duckdb.connect(path)  # the last attempt raises the lock error to the caller
