"""Token shards: the training phases' inputs as memory-mapped arrays, and deterministic sampling.

One shard is a folder per split (``train``, ``validation``, ``test``)::

    tokens.bin        uint16 token ids (uint32 when the vocabulary has more than 65,536 entries)
    doc_offsets.bin   int64, n_documents + 1 offsets: document i is tokens[off[i]:off[i+1]]
    loss_mask.bin     uint8, chat shards only: 1 where the token is a trained target
    emotion.bin       int8, chat shards only: emotion id at each Rosie turn's ``<|rosie|>``, -1 elsewhere
    documents.parquet chat shards only: one row per document (id, source, label_source, ...)
    meta.json         counts, dtype, tokenizer hash, sha256 of every file above, source hashes

Text shards (pretraining) end every document with ``<|endoftext|>``; their loss mask is implicit
(every token is a target). Chat shards keep one conversation per document.

Sampling is a pure function of ``(seed, position)``: sample ``p`` of a run is the same whether the run
was interrupted or not, and across any number of processes (each takes every ``world``-th position).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from foundation.hashing import file_sha256
from labeling.chat_format import Turn
from labeling.special_tokens import END_OF_TEXT, END_OF_TURN
from model.tokenizer import RosieTokenizer

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
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.directory.name}.tmp-", dir=self.directory.parent))
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
        _replace_directory(self._tmp, self.directory)
        return info


def _replace_directory(source: Path, target: Path) -> None:
    """Move ``source`` onto ``target``; an old ``target`` is set aside first and then removed."""
    aside = None
    if target.exists():
        aside = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, aside)
    os.replace(source, target)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


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
        emotion-labelled ``<|rosie|>`` position even when the reply after it is too long to fit."""
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


@dataclass
class Batch:
    idx: torch.Tensor
    targets: torch.Tensor
    emotion: torch.Tensor

    @classmethod
    def stack(cls, examples: Sequence[Example]) -> Batch:
        columns = ("idx", "targets", "emotion")
        return cls(*(torch.from_numpy(np.stack([getattr(e, c) for e in examples])) for c in columns))

    @property
    def n_target_tokens(self) -> int:
        return int((self.targets != IGNORE_INDEX).sum())


class ShardSampler:
    """Random training windows, a pure function of ``(seed, position)``.

    Text shards: a window starts anywhere in the token stream (documents are packed, separated by
    ``<|endoftext|>``). Chat shards: a window starts at a conversation's first token, so every
    sample sees a conversation from its beginning (later conversations fill the rest of the
    window); a conversation longer than the window starts anywhere inside it.
    """

    def __init__(self, shard: TokenShard, block_size: int, seed: int, pad_id: int) -> None:
        if len(shard) < 2:
            raise ValueError(f"token shard {shard.directory} is empty: nothing to train on")
        self.shard = shard
        self.block_size = block_size
        self.seed = seed
        self.pad_id = pad_id

    def example(self, position: int) -> Example:
        rng = np.random.default_rng([self.seed, position])
        if self.shard.chat:
            document = int(rng.integers(self.shard.n_documents))
            start, stop = int(self.shard.offsets[document]), int(self.shard.offsets[document + 1])
            # a conversation longer than the window: any stretch of it, the last one included
            start += int(rng.integers(max(stop - start - self.block_size - 1, 0) + 1))
        else:
            start = int(rng.integers(max(len(self.shard) - self.block_size - 1, 0) + 1))
        return self.shard.example(start, self.block_size, self.pad_id)

    def batch(self, positions: Sequence[int]) -> Batch:
        return Batch.stack([self.example(p) for p in positions])


class MixtureSampler:
    """Draws each position from one of several samplers, chosen with fixed weights (also by seed)."""

    def __init__(self, samplers: Sequence[ShardSampler], weights: Sequence[float], seed: int) -> None:
        total = float(sum(weights))
        self.samplers = list(samplers)
        self.cumulative = np.cumsum([w / total for w in weights])
        self.seed = seed

    def example(self, position: int) -> Example:
        pick = np.random.default_rng([self.seed, position, 1]).random()
        index = min(int(np.searchsorted(self.cumulative, pick, side="right")), len(self.samplers) - 1)
        return self.samplers[index].example(position)

    def batch(self, positions: Sequence[int]) -> Batch:
        return Batch.stack([self.example(p) for p in positions])


def rank_positions(step: int, batch_per_rank: int, rank: int, world: int) -> list[int]:
    """The sample positions rank ``rank`` trains on at micro-step ``step``: disjoint across ranks."""
    first = step * batch_per_rank * world
    return [first + i * world + rank for i in range(batch_per_rank)]


def evaluation_batches(
    shard: TokenShard,
    block_size: int,
    batch_size: int,
    pad_id: int,
    max_examples: int | None = None,
    *,
    keep_labels: bool = False,
) -> Iterator[Batch]:
    """Fixed held-out batches (no sampling): whole conversations for chat shards, consecutive
    windows for text shards. The same set every evaluation, so losses compare across steps."""
    if shard.chat:
        count = shard.n_documents if max_examples is None else min(shard.n_documents, max_examples)
        examples = (
            shard.document_example(i, block_size, pad_id, keep_label=keep_labels) for i in range(count)
        )
    else:
        starts = range(0, max(len(shard) - 1, 0), block_size)
        if max_examples is not None:
            starts = starts[:max_examples]
        examples = (shard.example(s, block_size, pad_id) for s in starts)
    chunk: list[Example] = []
    for example in examples:
        chunk.append(example)
        if len(chunk) == batch_size:
            yield _trimmed(Batch.stack(chunk))
            chunk = []
    if chunk:
        yield _trimmed(Batch.stack(chunk))


def _trimmed(batch: Batch) -> Batch:
    """Drop trailing columns nobody reads (short conversations padded to the window): attention
    is causal, so what the kept positions see is unchanged, and evaluation runs several times faster."""
    used = (batch.targets != IGNORE_INDEX) | (batch.emotion != NO_EMOTION)
    columns = used.any(dim=0).nonzero()
    width = int(columns.max()) + 1 if len(columns) else 1
    return Batch(batch.idx[:, :width], batch.targets[:, :width], batch.emotion[:, :width])


# --- building shards from the corpus and the datasets -------------------------------------------


@dataclass
class BuildStats:
    """Records in = kept + filtered + quarantined, per split."""

    kept: int = 0
    filtered: int = 0
    quarantined: int = 0
    tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def is_validation_document(document_id: str, fraction: float) -> bool:
    """Hash-fixed hold-out: a document stays in its split however the corpus grows."""
    bucket = int.from_bytes(hashlib.sha256(document_id.encode()).digest()[:8], "big") / 2**64
    return bucket < fraction


def build_text_shards(
    documents: Iterable[tuple[str, str]],
    tokenizer: RosieTokenizer,
    out_dir: str | os.PathLike,
    *,
    validation_fraction: float,
    **meta: object,
) -> dict[str, BuildStats]:
    """Tokenize ``(id, text)`` documents into ``train``/``validation`` text shards.

    Each document ends with ``<|endoftext|>``; empty texts are filtered (counted, not written).
    """
    out_dir = Path(out_dir)
    end_of_text = tokenizer.token_id(END_OF_TEXT)
    writers = {
        split: TokenShardWriter(out_dir / split, tokenizer.vocab_size, chat=False)
        for split in ("train", "validation")
    }
    stats = {split: BuildStats() for split in writers}
    try:
        for document_id, text in documents:
            split = "validation" if is_validation_document(document_id, validation_fraction) else "train"
            if not text or not text.strip():
                stats[split].filtered += 1
                continue
            writers[split].add([*tokenizer.encode_text(text), end_of_text])  # one document at a time
            stats[split].kept += 1
        if writers["train"].n_documents == 0:
            raise ValueError("the pretraining corpus has no training text: nothing to tokenize")
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    for split, writer in writers.items():
        stats[split].tokens = writer.close(split=split, tokenizer_sha256=tokenizer.sha256, **meta)["n_tokens"]
    return stats


class Filtered(Exception):
    """A record that is valid but carries nothing to train on (counted, not quarantined)."""


@dataclass
class ChatExample:
    ids: list[int]
    loss_mask: list[int]
    emotion_targets: list[int]
    document: dict


def build_chat_shards(
    rows_by_split: Mapping[str, Iterable[dict]],
    to_example: Callable[[dict], ChatExample],
    tokenizer: RosieTokenizer,
    out_dir: str | os.PathLike,
    **meta: object,
) -> tuple[dict[str, BuildStats], list[dict]]:
    """Encode dataset rows into one chat shard per split.

    ``to_example`` raises :class:`Filtered` for rows with nothing to train, ``ValueError`` (or
    ``KeyError``/``TypeError``) for malformed ones; those are returned as quarantine records
    (split, row position, reason, detail, the row as JSON) and counted.
    """
    out_dir = Path(out_dir)
    stats: dict[str, BuildStats] = {}
    quarantine: list[dict] = []
    for split, rows in rows_by_split.items():
        writer = TokenShardWriter(out_dir / split, tokenizer.vocab_size, chat=True)
        split_stats = stats[split] = BuildStats()
        try:
            for position, row in enumerate(rows):
                try:
                    example = to_example(row)
                except Filtered:
                    split_stats.filtered += 1
                    continue
                except (ValueError, KeyError, TypeError) as error:
                    split_stats.quarantined += 1
                    quarantine.append(
                        {
                            "split": split,
                            "position": position,
                            "reason": type(error).__name__,
                            "detail": str(error),
                            "raw": json.dumps(row, default=str)[:2000],
                        }
                    )
                    continue
                writer.add(example.ids, example.loss_mask, example.emotion_targets, example.document)
                split_stats.kept += 1
        except BaseException:
            writer.abort()
            raise
        split_stats.tokens = writer.close(split=split, tokenizer_sha256=tokenizer.sha256, **meta)["n_tokens"]
    return stats, quarantine


def personality_example(tokenizer: RosieTokenizer, row: dict) -> ChatExample:
    """A personality conversation as the chat template renders it; only Rosie's turns are trained."""
    turns = json.loads(row["turns"])
    if not any(turn.get("role") == "rosie" for turn in turns):
        raise Filtered("no rosie turn")
    encoded = tokenizer.encode_chat(turns)  # validates every turn (ValueError/TypeError: quarantined)
    document = {"id": row.get("conversation_id"), "source": row.get("source")}
    return ChatExample(list(encoded.ids), list(encoded.loss_mask), list(encoded.emotion_targets), document)


def emotion_example(tokenizer: RosieTokenizer, row: dict) -> ChatExample:
    """One labelled text as a two-turn exchange (the emotion rule shared with the engine).

    With a context: ``<|user|>{context}<|end|><|rosie|><|emotion:{label}|>{text}<|end|>``: Rosie
    answers the context in the labelled emotion and her words are trained. Without one:
    ``<|user|>{text}<|end|><|rosie|><|emotion:{label}|><|end|>`` with only the emotion token
    trained, so the model never learns to end a turn without words. Either way the head's target
    sits at the ``<|rosie|>`` position.
    """
    label, text, context = row["label"], row["text"], row.get("context")
    if not text or not text.strip():
        raise ValueError("empty text")
    if context and context.strip():
        turns = [Turn("user", context), Turn("rosie", text, emotion=label)]
    else:
        turns = [Turn("user", text), Turn("rosie", "", emotion=label)]
    encoded = tokenizer.encode_chat(turns)
    loss_mask = list(encoded.loss_mask)
    if turns[1].text == "":
        end_of_turn = tokenizer.token_id(END_OF_TURN)
        loss_mask = [0 if t == end_of_turn else m for t, m in zip(encoded.ids, loss_mask, strict=True)]
    document = {
        "label": label,
        "label_source": row.get("label_source"),
        "source": row.get("source"),
        "has_context": bool(context and context.strip()),
    }
    return ChatExample(list(encoded.ids), loss_mask, list(encoded.emotion_targets), document)
