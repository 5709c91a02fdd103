"""Every path the project reads or writes under its two output folders, in one place.

``artifacts/`` (``ROSIE_ARTIFACTS_DIR``)::

    raw/<source>/<file>.parquet              one shard per ingested file
    quarantine/raw/<source>/<file>.parquet   its bad records, with reasons
    clean/<source>/  deduped/  pretrain/     the cleaning and dedup layers
    excluded/<layer>/                        documents a layer dropped, with the reason
    work/<layer>/                            a layer's staging area and datatrove logs
    datasets/<name>/{train,validation,test}.parquet, CARD.md, baseline.json (emotion)
    quarantine/{datasets,tokens,tokenizer}/  bad rows of the later layers
    tokens/<name>/<split>/                   token shards of each training phase
    evaluation/model_eval.json               model_eval's report
    catalog.duckdb                           one view per layer, statistics tables
    conversations.sqlite                     chat history of the apps

``models/rosie_model/`` (``ROSIE_MODEL_DIR``)::

    config.json  tokenizer/  weights/<name>.pth  checkpoints/<phase>/  logs/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SOURCES: tuple[str, ...] = ("web", "books", "reddit")
DATASETS: tuple[str, ...] = ("personality", "emotion")
SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class ModelFiles:
    """One model folder: what the apps load and the trainer writes (self-contained, shippable)."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def tokenizer_dir(self) -> Path:
        return self.root / "tokenizer"

    @property
    def weights_dir(self) -> Path:
        return self.root / "weights"

    def weights_path(self, name: str) -> Path:
        """``base``, ``personality`` or ``final`` -> ``weights/<name>.pth``."""
        return self.weights_dir / f"{name}.pth"

    def checkpoint_dir(self, phase: str) -> Path:
        return self.root / "checkpoints" / phase

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def tensorboard_dir(self, phase: str) -> Path:
        return self.logs_dir / phase

    def loss_curve_path(self, phase: str) -> Path:
        return self.logs_dir / f"{phase}_loss.png"

    def train_config_path(self, phase: str) -> Path:
        """The resolved training settings the asset hands to the trainer process."""
        return self.logs_dir / f"{phase}_train_config.json"


@dataclass(frozen=True)
class Layout:
    """Paths under the artifacts folder, and the model folder (:attr:`model`)."""

    artifacts: Path
    models: Path

    # --- ingest ---------------------------------------------------------------------------------

    def raw_dir(self, source: str) -> Path:
        return self.artifacts / "raw" / source

    def raw_shard(self, source_file: str) -> Path:
        """``web/x/y.warc.gz`` -> ``raw/web/x/y.warc.gz.parquet``."""
        source, _, rest = source_file.partition("/")
        return self.raw_dir(source) / f"{rest}.parquet"

    def raw_quarantine(self, source_file: str) -> Path:
        source, _, rest = source_file.partition("/")
        return self.quarantine_dir("raw") / source / f"{rest}.parquet"

    def quarantine_dir(self, layer: str) -> Path:
        """Bad records of a layer: ``raw``, ``datasets``, ``tokens``, ``tokenizer``."""
        return self.artifacts / "quarantine" / layer

    # --- clean and dedup ------------------------------------------------------------------------

    @property
    def clean_root(self) -> Path:
        return self.artifacts / "clean"

    def clean_dir(self, source: str) -> Path:
        return self.clean_root / source

    @property
    def deduped_dir(self) -> Path:
        return self.artifacts / "deduped"

    @property
    def pretrain_dir(self) -> Path:
        return self.artifacts / "pretrain"

    def excluded_dir(self, layer: str) -> Path:
        """Documents a layer (``clean_web``, ``deduped_corpus``, ...) dropped, with the reason."""
        return self.artifacts / "excluded" / layer

    def work_dir(self, layer: str) -> Path:
        """A layer's staging area, swapped into place when the layer is complete."""
        return self.artifacts / "work" / layer

    def stage_logs(self, layer: str) -> Path:
        """A layer's last datatrove logs and per-task statistics."""
        return self.work_dir(layer) / "logs"

    # --- datasets -------------------------------------------------------------------------------

    def dataset_dir(self, name: str) -> Path:
        return self.artifacts / "datasets" / name

    def split_path(self, name: str, split: str) -> Path:
        return self.dataset_dir(name) / f"{split}.parquet"

    @property
    def baseline_path(self) -> Path:
        """The TF-IDF baseline's figures, the bar model_eval compares the emotion head with."""
        return self.dataset_dir("emotion") / "baseline.json"

    # --- training data and evaluation -----------------------------------------------------------

    def tokens_dir(self, name: str) -> Path:
        """Token shards of ``pretrain``, ``personality`` or ``emotion``, one folder per split."""
        return self.artifacts / "tokens" / name

    @property
    def evaluation_report(self) -> Path:
        return self.artifacts / "evaluation" / "model_eval.json"

    @property
    def catalog_path(self) -> Path:
        return self.artifacts / "catalog.duckdb"

    @property
    def history_db(self) -> Path:
        return self.artifacts / "conversations.sqlite"

    def catalog_views(self) -> dict[str, Path]:
        """View name (= asset name) -> the folder whose Parquet files it shows."""
        views = {f"raw_{s}": self.raw_dir(s) for s in SOURCES}
        views["quarantine_raw"] = self.quarantine_dir("raw")
        views |= {f"clean_{s}": self.clean_dir(s) for s in SOURCES}
        views |= {"deduped_corpus": self.deduped_dir, "pretrain_corpus": self.pretrain_dir}
        views |= {f"{name}_dataset": self.dataset_dir(name) for name in DATASETS}
        return views

    @property
    def model(self) -> ModelFiles:
        return ModelFiles(self.models)
