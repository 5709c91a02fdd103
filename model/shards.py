"""Token shards on disk: the training phases' inputs as memory-mapped arrays.

One shard is a folder per split (``train``, ``validation``, ``test``)::

    tokens.bin        uint16 token ids (uint32 when the vocabulary has more than 65,536 entries)
    doc_offsets.bin   int64, n_documents + 1 offsets: document i is tokens[off[i]:off[i+1]]
    loss_mask.bin     uint8, chat shards only: 1 where the token is a trained target
    emotion.bin       int8, chat shards only: emotion id at each labelled turn's ``<|end|>``, -1 elsewhere
    documents.parquet chat shards only: one row per document (id, source, label_source, ...)
    meta.json         counts, dtype, tokenizer hash, sha256 of every file above, source hashes

Text shards (pretraining) end every document with ``<|endoftext|>``; their loss mask is implicit
(every token is a target). Chat shards keep one conversation per document. :class:`TokenShardWriter`
publishes a folder atomically, :class:`TokenShard` reads one; :mod:`model.batches` samples them and
:mod:`model.shard_building` fills them from the corpus and the datasets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from foundation.atomic import remove_stale_temporaries, replace_directory, temporary_name
from foundation.hashing import file_sha256

TOKENS_FILE = "tokens.bin"
OFFSETS_FILE = "doc_offsets.bin"
LOSS_MASK_FILE = "loss_mask.bin"
EMOTION_FILE = "emotion.bin"
DOCUMENTS_FILE = "documents.parquet"
META_FILE = "meta.json"

IGNORE_INDEX = -100  # LM targets the loss skips (matches RosieGPT's cross-entropy)
NO_EMOTION = -1  # emotion targets the emotion-head loss skips


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned type that holds every id: halves the memory of the usual int32."""
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


class TokenShardWriter:
    """Append documents, then :meth:`close` publishes the shard folder atomically.

    Arrays stream to temporary files as they come, so a corpus larger than memory is fine; a run
    killed half-way leaves only a ``.tmp-*`` folder, never a shard a trainer could read.
    """

    def __init__(self, directory: str | os.PathLike, vocab_size: int, *, chat: bool) -> None:
        self.directory = Path(directory)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self.vocab_size = vocab_size
        self.chat = chat
        self.dtype = token_dtype(vocab_size)
        remove_stale_temporaries(self.directory.parent, self.directory.name)
        self._tmp = self.directory.parent / temporary_name(self.directory.name)
        self._tmp.mkdir()
        self._tokens = open(self._tmp / TOKENS_FILE, "wb")  # noqa: SIM115 - closed in close()
        self._mask = open(self._tmp / LOSS_MASK_FILE, "wb") if chat else None  # noqa: SIM115
        self._emotion = open(self._tmp / EMOTION_FILE, "wb") if chat else None  # noqa: SIM115
        self._offsets = [0]
        self._documents: list[dict] = []

    def add(
        self,
        ids: Sequence[int],
        loss_mask: Sequence[int] | None = None,
        emotion_targets: Sequence[int] | None = None,
        document: dict | None = None,
    ) -> None:
        """Append one document; chat shards need its loss mask and emotion targets."""
        array = np.asarray(ids, dtype=np.int64)
        if array.size and (array.min() < 0 or array.max() >= self.vocab_size):
            raise ValueError(f"token id out of range for a vocabulary of {self.vocab_size}")
        self._tokens.write(array.astype(self.dtype).tobytes())
        if self.chat:
            if loss_mask is None or emotion_targets is None or len(loss_mask) != len(ids):
                raise ValueError("chat shards need a loss mask and emotion targets per token")
            self._mask.write(np.asarray(loss_mask, dtype=np.uint8).tobytes())
            self._emotion.write(np.asarray(emotion_targets, dtype=np.int8).tobytes())
            self._documents.append(document or {})
        self._offsets.append(self._offsets[-1] + len(array))

    def extend(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Append many text documents at once: their ids back to back and each one's length."""
        if self.chat:
            raise ValueError("chat shards take documents one by one (add), with their targets")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"token id out of range for a vocabulary of {self.vocab_size}")
        self._tokens.write(tokens.astype(self.dtype).tobytes())
        self._offsets.extend((self._offsets[-1] + np.cumsum(lengths, dtype=np.int64)).tolist())

    @property
    def n_documents(self) -> int:
        return len(self._offsets) - 1

    def abort(self) -> None:
        """Drop everything written so far (the previous shard, if any, stays in place)."""
        for f in (self._tokens, self._mask, self._emotion):
            if f is not None:
                f.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def close(self, **meta: object) -> dict:
        """Finish the files, write ``meta.json`` (plus ``meta``) and move the folder into place."""
        for f in (self._tokens, self._mask, self._emotion):
            if f is not None:
                f.close()
        np.asarray(self._offsets, dtype=np.int64).tofile(self._tmp / OFFSETS_FILE)
        if self.chat:
            pq.write_table(pa.Table.from_pylist(self._documents), self._tmp / DOCUMENTS_FILE)
        files = sorted(p.name for p in self._tmp.iterdir())
        info = {
            "kind": "chat" if self.chat else "text",
            "dtype": self.dtype.name,
            "vocab_size": self.vocab_size,
            "n_tokens": self._offsets[-1],
            "n_documents": self.n_documents,
            "files": {name: file_sha256(self._tmp / name) for name in files},
            **meta,
        }
        (self._tmp / META_FILE).write_text(json.dumps(info, indent=2, sort_keys=True))
        replace_directory(self._tmp, self.directory)
        return info


def shard_content_hash(directory: str | os.PathLike) -> str:
    """One hash over a shard's file hashes: what lineage manifests and resume fingerprints record."""
    meta = read_meta(directory)
    return hashlib.sha256(json.dumps(meta["files"], sort_keys=True).encode()).hexdigest()


def read_meta(directory: str | os.PathLike) -> dict:
    path = Path(directory) / META_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no token shard at {directory} ({META_FILE} missing): materialize the *_tokens asset first"
        )
    return json.loads(path.read_text())


class TokenShard:
    """Read-only, memory-mapped view of one shard folder."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.meta = read_meta(self.directory)
        self.chat = self.meta["kind"] == "chat"
        n = self.meta["n_tokens"]
        self.tokens = self._map(TOKENS_FILE, self.meta["dtype"], n)
        self.offsets = np.fromfile(self.directory / OFFSETS_FILE, dtype=np.int64)
        self.loss_mask = self._map(LOSS_MASK_FILE, "uint8", n) if self.chat else None
        self.emotion = self._map(EMOTION_FILE, "int8", n) if self.chat else None

    def _map(self, name: str, dtype: str, n: int) -> np.ndarray:
        if n == 0:  # np.memmap refuses empty files
            return np.zeros(0, dtype=dtype)
        return np.memmap(self.directory / name, dtype=dtype, mode="r", shape=(n,))

    def __len__(self) -> int:
        return int(self.meta["n_tokens"])

    @property
    def n_documents(self) -> int:
        return len(self.offsets) - 1

    def emotion_counts(self, n_emotions: int) -> list[int]:
        """How many labelled positions carry each emotion id (chat shards)."""
        labels = np.asarray(self.emotion) if self.chat else np.zeros(0, dtype=np.int8)
        return np.bincount(labels[labels >= 0].astype(np.int64), minlength=n_emotions).tolist()

    def documents(self) -> pa.Table:
        """Per-document metadata of a chat shard (ids, sources, label provenance)."""
        return pq.read_table(self.directory / DOCUMENTS_FILE)

    def example(self, start: int, length: int, pad_id: int) -> Example:
        """``length`` inputs from ``start`` with next-token targets; past the end is padding."""
        stop = min(start + length + 1, len(self))
        window = np.full(length + 1, pad_id, dtype=np.int64)
        window[: stop - start] = self.tokens[start:stop]
        if self.chat:
            trained = np.zeros(length + 1, dtype=bool)
            trained[: stop - start] = self.loss_mask[start:stop].astype(bool)
            emotion = np.full(length + 1, NO_EMOTION, dtype=np.int64)
            emotion[: stop - start] = self.emotion[start:stop]
        else:
            trained = np.zeros(length + 1, dtype=bool)
            trained[: stop - start] = True
            emotion = np.full(length + 1, NO_EMOTION, dtype=np.int64)
        targets = np.where(trained[1:], window[1:], IGNORE_INDEX)
        return Example(window[:-1], targets, emotion[:-1])

    def document_example(
        self, index: int, max_length: int, pad_id: int, *, keep_label: bool = False
    ) -> Example:
        """Document ``index`` alone, padding after it ignored. A document longer than ``max_length``
        keeps its end (the last Rosie turn), as a prompt would; with ``keep_label`` it keeps its last
        emotion-labelled position even when the conversation after it is too long to fit."""
        first, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        start = max(first, stop - max_length - 1)
        if keep_label and self.chat:
            labelled = np.flatnonzero(self.emotion[first:stop] != NO_EMOTION)
            if labelled.size and first + int(labelled[-1]) < start:
                start = max(first, first + int(labelled[-1]) - max_length + 1)
        length = min(stop - start - 1, max_length)
        example = self.example(start, max_length, pad_id)
        example.targets[length:] = IGNORE_INDEX
        example.emotion[length + 1 :] = NO_EMOTION
        example.idx[length + 1 :] = pad_id
        return example


@dataclass
class Example:
    """One training example: inputs, shifted LM targets (-100 = skip), emotion targets (-1 = skip)."""

    idx: np.ndarray
    targets: np.ndarray
    emotion: np.ndarray
