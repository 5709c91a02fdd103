"""Tiny, real training inputs for the training tests (helpers only, no tests here).

Built from the sample data in the data root: a Gutenberg book as the pretraining corpus,
chatterbot conversations as Rosie's personality data, GoEmotions (Ekman labels) as the emotion
data, all written in the datasets' contract format, plus a small BPE tokenizer trained on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import yaml

from dedup.schema import DOCUMENT_SCHEMA
from foundation.atomic import write_parquet_atomic
from foundation.hashing import text_hash
from foundation.settings import Settings
from labeling.emotions import EMOTIONS
from model.shard_building import build_chat_shards, build_text_shards, emotion_example, personality_example
from model.tokenizer import RosieTokenizer

EKMAN_TO_ROSIE = {
    "anger": "angry",
    "disgust": "disgusted",
    "fear": "scared",
    "joy": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "surprise": "surprised",
}
TINY_MODEL = {"block_size": 64, "n_layer": 2, "n_head": 2, "n_embd": 32, "memory_every": 2}
SPLITS = ("train", "validation", "test")


def _split(i: int) -> str:
    return SPLITS[0] if i % 10 >= 2 else SPLITS[1 + i % 2]


def pretrain_documents(data_root: Path, limit: int = 120) -> list[tuple[str, str]]:
    book = sorted((data_root / "books" / "nltk_gutenberg").glob("*.txt"))[0]
    paragraphs = [
        p.strip() for p in book.read_text(encoding="utf-8", errors="replace").split("\n\n") if p.strip()
    ]
    return [(f"books/{book.name}#{i}", p) for i, p in enumerate(paragraphs[:limit])]


def personality_rows(data_root: Path) -> list[dict]:
    rows = []
    for path in sorted((data_root / "chitchat" / "chatterbot_corpus_english").glob("*.yml"))[:8]:
        for conversation in yaml.safe_load(path.read_text(encoding="utf-8")).get("conversations", []):
            lines = [str(line) for line in conversation if str(line).strip()]
            if len(lines) < 2:
                continue
            turns = [
                {
                    "role": "user" if j % 2 == 0 else "rosie",
                    "text": line,
                    "emotion": None if j % 2 == 0 else EMOTIONS[(len(rows) + j) % 3],
                    "action": None,
                }
                for j, line in enumerate(lines)
            ]
            rows.append(
                {
                    "conversation_id": f"{path.stem}-{len(rows)}",
                    "turns": json.dumps(turns),
                    "split": _split(len(rows)),
                    "source": "chatterbot",
                    "licence": "BSD-3-Clause",
                }
            )
    return rows


def emotion_rows(data_root: Path, limit: int = 400) -> list[dict]:
    labels = (data_root / "emotion" / "goemotions" / "ekman" / "labels.txt").read_text().split()
    rows, previous = [], None
    for line in (
        (data_root / "emotion" / "goemotions" / "ekman" / "dev.tsv").read_text(encoding="utf-8").splitlines()
    ):
        text, ids, _ = line.split("\t")
        if "," in ids:
            continue
        label = EKMAN_TO_ROSIE[labels[int(ids)]]
        i = len(rows)
        context = previous if i % 3 else None  # every split gets both kinds
        rows.append(
            {
                "example_id": f"row{i}",
                "text": text,
                "label": label,
                "label_source": "gold" if i % 4 else "weak",
                # two sources, so figures per source have something to tell apart
                "source": "dialogue" if context else "goemotions",
                "source_label": labels[int(ids)],
                "licence": "CC-BY-4.0",
                "split": _split(i),
                "source_item": f"goemotions:{i}",
                "context": context,
            }
        )
        previous = text
        if len(rows) == limit:
            break
    return rows


def write_inputs(settings: Settings, data_root: Path) -> dict[str, list]:
    """The upstream assets' outputs in contract form: pretrain Parquet and both datasets' splits."""
    documents = pretrain_documents(data_root)
    table = pa.Table.from_pylist(
        [
            {
                "id": i,
                "source": "books",
                "source_file": i.split("#")[0],
                "text": t,
                "content_hash": text_hash(t),
                "input_sha256": "0" * 64,
            }
            for i, t in documents
        ],
        schema=DOCUMENT_SCHEMA,
    )
    write_parquet_atomic(table, settings.layout.pretrain_dir / "part-0000.parquet")
    data = {
        "pretrain": documents,
        "personality": personality_rows(data_root),
        "emotion": emotion_rows(data_root),
    }
    for name in ("personality", "emotion"):
        for split in SPLITS:
            rows = [r for r in data[name] if r["split"] == split]
            write_parquet_atomic(
                pa.Table.from_pylist(rows), settings.layout.dataset_dir(name) / f"{split}.parquet"
            )
    return data


def train_tokenizer(settings: Settings, data: dict[str, list], vocab_size: int = 400) -> RosieTokenizer:
    texts = [t for _, t in data["pretrain"]] + [r["text"] for r in data["emotion"]]
    texts += [turn["text"] for r in data["personality"] for turn in json.loads(r["turns"])]
    tokenizer = RosieTokenizer.train(texts, vocab_size)
    tokenizer.save(settings.layout.model.tokenizer_dir)
    return tokenizer


def build_all_shards(settings: Settings, data: dict[str, list], tokenizer: RosieTokenizer) -> None:
    """What the three *_tokens assets do, without Dagster."""
    build_text_shards(
        data["pretrain"], tokenizer, settings.layout.tokens_dir("pretrain"), validation_fraction=0.1
    )
    for name, to_example in (("personality", personality_example), ("emotion", emotion_example)):
        rows = {split: [r for r in data[name] if r["split"] == split] for split in SPLITS}
        build_chat_shards(
            rows, lambda row, f=to_example: f(tokenizer, row), tokenizer, settings.layout.tokens_dir(name)
        )


def tiny_overrides(**phase_overrides: dict) -> dict:
    """A tiny model and a few steps per phase: seconds on CPU."""
    phase = {
        "max_steps": 6,
        "warmup_steps": 2,
        "micro_batch_size": 4,
        "grad_accum_steps": 2,
        "eval_interval": 3,
        "eval_examples": 16,
        "checkpoint_interval": 2,
    }
    return {
        "model_overrides": TINY_MODEL,
        "phases": {
            name: {**phase, **phase_overrides.get(name, {})} for name in ("base", "personality", "emotion")
        },
    }


def prepare(settings: Settings, data_root: Path) -> RosieTokenizer:
    """Inputs + tokenizer + shards: everything phase 1 needs."""
    data = write_inputs(settings, data_root)
    tokenizer = train_tokenizer(settings, data)
    build_all_shards(settings, data, tokenizer)
    return tokenizer
