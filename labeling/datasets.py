"""Where the datasets live and how other steps read them.

Layout (under ``Settings.artifacts_dir``)::

    datasets/personality/{train,validation,test}.parquet, CARD.md
    datasets/emotion/{train,validation,test}.parquet, CARD.md
    datasets/emotion/baseline.json          TF-IDF + logistic regression figures (model_eval reads it)
    quarantine/datasets/<name>.parquet      bad source records with their reason
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dedup.atomic import write_parquet_atomic
from dedup.schema import QUARANTINE_SCHEMA
from labeling.chat_format import Turn, turns_from_json
from labeling.splits import SPLITS
from pipelines.settings import Settings

EVALUATION_SPLITS: tuple[str, ...] = ("validation", "test")


def dataset_dir(settings: Settings, name: str) -> Path:
    return settings.layer_dir("datasets") / name


def split_path(settings: Settings, name: str, split: str) -> Path:
    return dataset_dir(settings, name) / f"{split}.parquet"


def baseline_path(settings: Settings) -> Path:
    return dataset_dir(settings, "emotion") / "baseline.json"


def write_splits(settings: Settings, name: str, tables: dict[str, pa.Table]) -> dict[str, Path]:
    """Write every split atomically; a split with no rows is still written (empty, with its schema)."""
    return {split: write_parquet_atomic(tables[split], split_path(settings, name, split)) for split in SPLITS}


def write_quarantine(
    settings: Settings, name: str, records: list[dict], input_sha256: dict[str, str] | None = None
) -> Path:
    """Bad source records (QUARANTINE_SCHEMA), each with the sha256 of the file it came from."""
    sha = input_sha256 or {}
    rows = [{**r, "input_sha256": sha.get(r["source_file"], "")} for r in records]
    table = pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)
    return write_parquet_atomic(table, settings.layer_dir("quarantine") / "datasets" / f"{name}.parquet")


def read_split(settings: Settings, name: str, split: str, columns: list[str] | None = None) -> pa.Table:
    path = split_path(settings, name, split)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: materialize the {name}_dataset asset first")
    return pq.read_table(path, columns=columns)


def personality_conversations(settings: Settings, split: str) -> list[list[Turn]]:
    """The conversations of one personality split, each turn validated by :class:`Turn`."""
    turns = read_split(settings, "personality", split, ["turns"]).column("turns").to_pylist()
    return [turns_from_json(t) for t in turns]


def evaluation_texts(settings: Settings) -> list[str]:
    """Validation and test texts of both datasets, for decontaminating the pretraining corpus.

    Emotion examples give their text; personality conversations give each non-system turn's text.
    Returns an empty list where a dataset has not been built yet.
    """
    texts: list[str] = []
    for split in EVALUATION_SPLITS:
        if split_path(settings, "emotion", split).exists():
            texts.extend(read_split(settings, "emotion", split, ["text"]).column("text").to_pylist())
        if split_path(settings, "personality", split).exists():
            for turns in personality_conversations(settings, split):
                texts.extend(turn.text for turn in turns if turn.text and turn.role != "system")
    return list(dict.fromkeys(texts))
