"""Project settings, read from the environment so the same code runs on a laptop or a cluster.

No Dagster import here: `dedup/`, `labeling/` and `model/` use these settings on their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    """Where inputs are read and outputs written.

    - ``data_root``: any fsspec URL (local folder, ``s3://...``); defaults to ``../shared/data``.
    - ``artifacts_dir``: Parquet shards, quarantine files, the DuckDB catalog.
    - ``model_dir``: ``models/rosie_model`` (config, tokenizer, weights, checkpoints).
    """

    data_root: str
    artifacts_dir: Path
    model_dir: Path
    preset: str

    @classmethod
    def from_env(cls) -> Settings:
        data_root = os.environ.get("ROSIE_DATA_ROOT") or str(
            (PROJECT_ROOT.parent / "shared" / "data").resolve()
        )
        return cls(
            data_root=data_root.rstrip("/"),
            artifacts_dir=_path_from_env("ROSIE_ARTIFACTS_DIR", PROJECT_ROOT / "artifacts"),
            model_dir=_path_from_env("ROSIE_MODEL_DIR", PROJECT_ROOT / "models" / "rosie_model"),
            preset=os.environ.get("ROSIE_PRESET", "demo"),
        )

    @property
    def catalog_path(self) -> Path:
        """The DuckDB catalog over every layer's shards."""
        return self.artifacts_dir / "catalog.duckdb"

    def layer_dir(self, layer: str) -> Path:
        """Folder of one asset layer's outputs, e.g. ``raw/web`` or ``clean/books``."""
        return self.artifacts_dir / layer
