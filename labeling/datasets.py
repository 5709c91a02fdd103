"""How the datasets are written and how other steps read them (paths: ``foundation.layout``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from foundation.atomic import publish_directory, write_parquet_atomic
from foundation.layout import DATASETS
from foundation.quarantine import QUARANTINE_SCHEMA
from foundation.settings import Settings
from labeling.chat_format import Turn, turns_from_json
from labeling.splits import SPLITS

EVALUATION_SPLITS: tuple[str, ...] = ("validation", "test")


def write_splits(settings: Settings, name: str, tables: dict[str, pa.Table]) -> dict[str, Path]:
    """Write every split, published together: a build killed half-way leaves the previous splits,
    never a new train beside an old test. A split with no rows is still written (empty, with its
    schema)."""
    with publish_directory(settings.layout.dataset_dir(name)) as staging:
        for split in SPLITS:
            path = staging / settings.layout.split_path(name, split).name
            pq.write_table(tables[split], path, compression="zstd")
    return {split: settings.layout.split_path(name, split) for split in SPLITS}


def write_quarantine(
    settings: Settings, name: str, records: list[dict], input_sha256: dict[str, str] | None = None
) -> Path:
    """Bad source records (QUARANTINE_SCHEMA), each with the sha256 of the file it came from."""
    sha = input_sha256 or {}
    rows = [{**r, "input_sha256": sha.get(r["source_file"], "")} for r in records]
    table = pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)
    return write_parquet_atomic(table, settings.layout.quarantine_dir("datasets") / f"{name}.parquet")


def read_split(settings: Settings, name: str, split: str, columns: list[str] | None = None) -> pa.Table:
    path = settings.layout.split_path(name, split)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: materialize the {name}_dataset asset (or python -m labeling {name})"
        )
    return pq.read_table(path, columns=columns)


def read_splits(settings: Settings, name: str) -> dict[str, pa.Table]:
    """Every split of a written dataset."""
    return {split: read_split(settings, name, split) for split in SPLITS}


def personality_conversations(settings: Settings, split: str) -> list[list[Turn]]:
    """The conversations of one personality split, each turn validated by :class:`Turn`."""
    turns = read_split(settings, "personality", split, ["turns"]).column("turns").to_pylist()
    return [turns_from_json(t) for t in turns]


def evaluation_texts(settings: Settings, datasets: tuple[str, ...] = DATASETS) -> list[str]:
    """Validation and test texts of the datasets, for decontaminating the pretraining corpus.

    Emotion examples give their text; personality conversations give each non-system turn's text.
    Raises FileNotFoundError naming the missing split: decontamination never silently does nothing.
    """
    texts: list[str] = []
    for split in EVALUATION_SPLITS:
        if "emotion" in datasets:
            texts.extend(read_split(settings, "emotion", split, ["text"]).column("text").to_pylist())
        if "personality" in datasets:
            for turns in personality_conversations(settings, split):
                texts.extend(turn.text for turn in turns if turn.text and turn.role != "system")
    return list(dict.fromkeys(texts))
