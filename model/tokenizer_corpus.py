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

import pyarrow.parquet as pq

from foundation.data_root import DataRoot
from foundation.hashing import file_sha256
from foundation.settings import Settings

HOLD_OUT_EVERY = 50  # 2% of documents never reach the trainer
HELD_OUT_MAX_CHARS = 2_000_000  # enough for a stable bytes/token figure
SAMPLE_BOOKS = "books/nltk_gutenberg"


@dataclass
class CorpusStats:
    """What went in: documents per source, characters, quarantined records with reasons, file hashes."""

    records_in: int = 0  # rows (or paragraphs) read = rows used + filtered + quarantined
    documents: Counter = field(default_factory=Counter)  # texts per source (a conversation has several)
    characters: int = 0
    filtered: Counter = field(default_factory=Counter)  # reason -> count (empty texts)
    quarantined: Counter = field(default_factory=Counter)  # reason -> count
    quarantine_rows: list[dict] = field(default_factory=list)  # QUARANTINE_SCHEMA rows
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

    def quarantine(self, source: str, path: Path, position: int, error: Exception, raw: str | None) -> None:
        reason = f"{source}: unparseable record ({type(error).__name__})"
        self.quarantined[reason] += 1
        self.quarantine_rows.append({
            "source": source, "source_file": str(path), "position": str(position), "reason": reason,
            "detail": str(error), "raw": (raw or "").encode("utf-8", "replace")[:2048],
            "input_sha256": self.input_sha256[str(path)],
        })



def pretrain_files(settings: Settings) -> list[Path]:
    return sorted(settings.layout.pretrain_dir.glob("*.parquet"))


def _parquet_values(path: Path, column: str, source: str, stats: CorpusStats) -> Iterator[tuple[int, str]]:
    """(row, value) of a column; null or empty values are counted as filtered, never silently dropped."""
    stats.input_sha256[str(path)] = file_sha256(path)
    position = 0
    for batch in pq.ParquetFile(path).iter_batches(columns=[column], batch_size=4096):
        for value in batch.column(0).to_pylist():
            stats.records_in += 1
            if value:
                yield position, value
            else:
                stats.filtered[f"{source}: empty {column}"] += 1
            position += 1


def _texts(path: Path, column: str, source: str, stats: CorpusStats) -> Iterator[str]:
    return (text for _, text in _parquet_values(path, column, source, stats) if stats.keep(source, text))


def _turn_texts(turns_json: str) -> list[str]:
    return [t["text"] for t in json.loads(turns_json) if t.get("text")]


def pretrain_texts(settings: Settings, stats: CorpusStats) -> Iterator[str]:
    """Texts of the pretraining corpus shards (streamed)."""
    for path in pretrain_files(settings):
        yield from _texts(path, "text", "pretrain", stats)


def dataset_texts(settings: Settings, stats: CorpusStats) -> Iterator[str]:
    """Turn texts of the personality dataset and texts of the emotion dataset, train splits only."""
    personality = settings.layout.split_path("personality", "train")
    if personality.exists():
        for position, turns_json in _parquet_values(personality, "turns", "personality", stats):
            try:
                texts = _turn_texts(turns_json)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                stats.quarantine("personality", personality, position, error, turns_json)
                continue
            yield from (t for t in texts if stats.keep("personality", t))
    emotion = settings.layout.split_path("emotion", "train")
    if emotion.exists():
        yield from _texts(emotion, "text", "emotion", stats)


def sample_corpus(data_root: str, stats: CorpusStats) -> Iterator[str]:
    """Paragraphs of the raw sample books: the stand-in until ``pretrain_corpus`` is materialized."""
    root = DataRoot(data_root)
    for path in root.list(SAMPLE_BOOKS, ".txt"):
        raw = root.read_bytes(path)
        stats.input_sha256[root.url(path)] = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
        for paragraph in paragraphs(text):
            stats.records_in += 1
            if stats.keep("sample_books", paragraph):
                yield paragraph


def paragraphs(text: str) -> Iterable[str]:
    return (p.strip() for p in text.split("\n\n") if p.strip())


def bytes_per_token(encode_batch: Callable[[list[str]], list[list[int]]], texts: list[str]) -> float:
    """UTF-8 bytes per token over ``texts``: higher means the vocabulary compresses better."""
    if not texts:
        raise ValueError("no held-out text to measure bytes per token on")
    tokens = sum(len(ids) for ids in encode_batch(texts))
    return sum(len(t.encode("utf-8")) for t in texts) / tokens
