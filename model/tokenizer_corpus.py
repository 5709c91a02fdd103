"""The text a tokenizer trains on: the pretraining corpus plus both datasets' training splits.

Reads the Parquet layout of the brief (``pretrain/*.parquet``, ``datasets/{personality,emotion}/
train.parquet``). Until the pretraining corpus exists, ``sample_corpus`` stands in with the raw
sample books, so the tokenizer can be trained and measured on its own. Every N-th document (by
content hash, so stable across runs) is held out to measure bytes per token on unseen text.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import pyarrow.parquet as pq

from pipelines.settings import Settings

HOLD_OUT_EVERY = 50  # 2% of documents never reach the trainer
HELD_OUT_MAX_CHARS = 2_000_000  # enough for a stable bytes/token figure
SAMPLE_BOOKS = "books/nltk_gutenberg"


@dataclass
class CorpusStats:
    """What went in: documents per source, characters, quarantined records with reasons, file hashes."""

    documents: Counter = field(default_factory=Counter)
    characters: int = 0
    quarantined: Counter = field(default_factory=Counter)
    held_out: list[str] = field(default_factory=list)
    input_sha256: dict[str, str] = field(default_factory=dict)

    def keep(self, source: str, text: str) -> bool:
        """Count ``text``; return False when it is held out instead of trained on."""
        self.documents[source] += 1
        self.characters += len(text)
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        if int.from_bytes(digest, "big") % HOLD_OUT_EVERY:
            return True
        if sum(map(len, self.held_out)) < HELD_OUT_MAX_CHARS:
            self.held_out.append(text)
        return False


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pretrain_files(settings: Settings) -> list[Path]:
    return sorted(settings.layer_dir("pretrain").glob("*.parquet"))


def dataset_train_file(settings: Settings, dataset: str) -> Path:
    """Only the training split: validation/test texts stay unseen by every trained artifact."""
    return settings.layer_dir(f"datasets/{dataset}") / "train.parquet"


def _parquet_column(path: Path, column: str, stats: CorpusStats) -> Iterator[str | None]:
    stats.input_sha256[str(path)] = file_sha256(path)
    for batch in pq.ParquetFile(path).iter_batches(columns=[column], batch_size=4096):
        yield from batch.column(0).to_pylist()


def _turn_texts(turns_json: str | None) -> list[str]:
    turns = json.loads(turns_json or "")
    return [t["text"] for t in turns if t.get("text")]


def corpus_texts(settings: Settings, stats: CorpusStats) -> Iterator[str]:
    """Training texts from the pretraining corpus and both datasets' train splits (streamed)."""
    for path in pretrain_files(settings):
        for text in _parquet_column(path, "text", stats):
            if text and stats.keep("pretrain", text):
                yield text
    personality = dataset_train_file(settings, "personality")
    if personality.exists():
        for turns_json in _parquet_column(personality, "turns", stats):
            try:
                texts = _turn_texts(turns_json)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                stats.quarantined[f"personality: bad turns JSON ({type(error).__name__})"] += 1
                continue
            yield from (t for t in texts if stats.keep("personality", t))
    emotion = dataset_train_file(settings, "emotion")
    if emotion.exists():
        for text in _parquet_column(emotion, "text", stats):
            if text and stats.keep("emotion", text):
                yield text


def sample_corpus(data_root: str, stats: CorpusStats) -> Iterator[str]:
    """Paragraphs of the raw sample books: the stand-in until ``pretrain_corpus`` is materialized."""
    fs, root = fsspec.core.url_to_fs(data_root)
    for path in sorted(fs.glob(f"{root}/{SAMPLE_BOOKS}/*.txt")):
        raw = fs.cat_file(path)
        stats.input_sha256[path] = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
        yield from (p for p in paragraphs(text) if stats.keep("sample_books", p))


def paragraphs(text: str) -> Iterable[str]:
    return (p.strip() for p in text.split("\n\n") if p.strip())


def bytes_per_token(encode_batch: Callable[[list[str]], list[list[int]]], texts: list[str]) -> float:
    """UTF-8 bytes per token over ``texts``: higher means the vocabulary compresses better."""
    if not texts:
        raise ValueError("no held-out text to measure bytes per token on")
    tokens = sum(len(ids) for ids in encode_batch(texts))
    return sum(len(t.encode("utf-8")) for t in texts) / tokens
