"""Building the phases' token shards: the pretraining corpus as text shards, the personality and
emotion datasets as chat shards, with the counts of each split (kept + filtered + quarantined).

The corpus is encoded in batches (tiktoken, one thread per process) and, at scale, one task per
corpus file on the same executor as cleaning (:func:`tokenize_corpus`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep

from dedup.executors import Stage, run_stages
from foundation.settings import CleanConfig
from labeling.emotion_dataset import labelled_conversation
from labeling.special_tokens import END_OF_TEXT
from model.shards import TokenShardWriter
from model.tokenizer import RosieTokenizer


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


ENCODE_BATCH_DOCUMENTS = 256  # documents per encode call: amortises the call, bounds memory


def encode_documents(
    documents: Iterable[tuple[str, str]], tokenizer: RosieTokenizer, validation_fraction: float
) -> Iterator[tuple[str, np.ndarray, np.ndarray, int]]:
    """``(split, ids, lengths, filtered)`` per batch of documents: the ids of the batch's documents of
    that split back to back, each ending with ``<|endoftext|>``; empty texts are counted, not kept."""
    end_of_text = tokenizer.token_id(END_OF_TEXT)
    documents = iter(documents)
    while batch := list(itertools.islice(documents, ENCODE_BATCH_DOCUMENTS)):
        by_split: dict[str, list[str]] = {"train": [], "validation": []}
        filtered = dict.fromkeys(by_split, 0)
        for document_id, text in batch:
            split = "validation" if is_validation_document(document_id, validation_fraction) else "train"
            if text and text.strip():
                by_split[split].append(text)
            else:
                filtered[split] += 1
        for split, texts in by_split.items():
            encoded = [[*ids, end_of_text] for ids in tokenizer.encode_batch(texts)]
            ids = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64)
            yield split, ids, np.array([len(e) for e in encoded], dtype=np.int64), filtered[split]


def build_text_shards(
    documents: Iterable[tuple[str, str]],
    tokenizer: RosieTokenizer,
    out_dir: str | os.PathLike,
    *,
    validation_fraction: float,
    **meta: object,
) -> dict[str, BuildStats]:
    """Tokenize ``(id, text)`` documents in this process into ``train``/``validation`` text shards.

    Each document ends with ``<|endoftext|>``; empty texts are filtered (counted, not written).
    """
    parts = (
        (split, ids, lengths, BuildStats(kept=len(lengths), filtered=filtered))
        for split, ids, lengths, filtered in encode_documents(documents, tokenizer, validation_fraction)
    )
    return _write_text_shards(parts, tokenizer, out_dir, meta)


def _write_text_shards(
    parts: Iterable[tuple[str, np.ndarray, np.ndarray, BuildStats]],
    tokenizer: RosieTokenizer,
    out_dir: str | os.PathLike,
    meta: dict,
) -> dict[str, BuildStats]:
    """Append encoded parts, in order, to the two split shards; publish both or neither."""
    out_dir = Path(out_dir)
    writers = {
        split: TokenShardWriter(out_dir / split, tokenizer.vocab_size, chat=False)
        for split in ("train", "validation")
    }
    stats = {split: BuildStats() for split in writers}
    try:
        for split, ids, lengths, part_stats in parts:
            writers[split].extend(ids, lengths)
            stats[split].kept += part_stats.kept
            stats[split].filtered += part_stats.filtered
        if writers["train"].n_documents == 0:
            raise ValueError("the pretraining corpus has no training text: nothing to tokenize")
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    for split, writer in writers.items():
        stats[split].tokens = writer.close(split=split, tokenizer_sha256=tokenizer.sha256, **meta)["n_tokens"]
    return stats


def parquet_documents(path: Path) -> Iterator[tuple[str, str]]:
    """``(id, text)`` of every row of a corpus parquet file, read in record batches."""
    for batch in pq.ParquetFile(path).iter_batches(columns=["id", "text"], batch_size=1024):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


class TokenizeParquetFiles(PipelineStep):
    """Task ``rank`` tokenizes corpus file ``rank`` into a part folder (one per file, written whole
    then renamed); :func:`tokenize_corpus` joins the parts in file order."""

    type = "🔢 - TOKENIZE"
    name = "🔢 Tokenize corpus files"

    def __init__(self, files: list[Path], tokenizer_dir: Path, parts_dir: Path, validation_fraction: float):
        super().__init__()
        self.files, self.tokenizer_dir, self.parts_dir = files, tokenizer_dir, parts_dir
        self.validation_fraction = validation_fraction

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        tokenizer = RosieTokenizer.load(self.tokenizer_dir)
        part = self.parts_dir / f"{rank:06d}"
        tmp = self.parts_dir / f".{rank:06d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        stats = {split: BuildStats() for split in ("train", "validation")}
        arrays: dict[str, tuple[list, list]] = {split: ([], []) for split in stats}
        with self.track_time():
            for split, ids, lengths, filtered in encode_documents(
                parquet_documents(self.files[rank]), tokenizer, self.validation_fraction
            ):
                arrays[split][0].append(ids)
                arrays[split][1].append(lengths)
                stats[split].kept += len(lengths)
                stats[split].filtered += filtered
                self.stat_update("documents", value=len(lengths) + filtered)
        for split, (ids, lengths) in arrays.items():
            np.concatenate([np.zeros(0, np.int64), *ids]).tofile(tmp / f"{split}.ids")
            np.concatenate([np.zeros(0, np.int64), *lengths]).tofile(tmp / f"{split}.lengths")
        (tmp / "stats.json").write_text(json.dumps({k: v.as_dict() for k, v in stats.items()}))
        shutil.rmtree(part, ignore_errors=True)
        tmp.rename(part)
        return iter(())


def tokenize_corpus(
    files: list[Path],
    tokenizer_dir: Path,
    out_dir: str | os.PathLike,
    work_dir: Path,
    config: CleanConfig,
    *,
    validation_fraction: float,
    **meta: object,
) -> dict[str, BuildStats]:
    """Tokenize corpus parquet files into ``train``/``validation`` text shards, one task per file on
    the cleaning executor (local processes, slurm or ray); the parts join in file order, so the
    shards are identical whatever the worker count or executor."""
    shutil.rmtree(work_dir, ignore_errors=True)
    parts_dir = work_dir / "parts"
    step = TokenizeParquetFiles(files, tokenizer_dir, parts_dir, validation_fraction)
    run_stages([Stage("tokenize", [step], tasks=len(files), logging_dir=work_dir / "logs")], config)

    def parts() -> Iterator[tuple[str, np.ndarray, np.ndarray, BuildStats]]:
        for index in range(len(files)):
            part = parts_dir / f"{index:06d}"
            stats = json.loads((part / "stats.json").read_text())
            for split in ("train", "validation"):
                ids = np.fromfile(part / f"{split}.ids", dtype=np.int64)
                lengths = np.fromfile(part / f"{split}.lengths", dtype=np.int64)
                yield split, ids, lengths, BuildStats(**{**stats[split], "tokens": 0})

    stats = _write_text_shards(parts(), RosieTokenizer.load(tokenizer_dir), out_dir, meta)
    shutil.rmtree(work_dir, ignore_errors=True)
    return stats


class Filtered(Exception):
    """A record that is valid but carries nothing to train on (counted, not quarantined)."""


@dataclass
class ChatExample:
    """One encoded chat document, as :meth:`TokenShardWriter.add` takes it."""

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
    """One labelled text as :func:`labeling.emotion_dataset.labelled_conversation` renders it: the
    head's one target at the labelled turn's ``<|end|>``; Rosie's words (when the text is her reply)
    are LM targets as in any conversation."""
    label, text, context = row["label"], row["text"], row.get("context")
    if not text or not text.strip():
        raise ValueError("empty text")
    encoded = tokenizer.encode_chat(labelled_conversation(text, label, context))
    document = {
        "label": label,
        "label_source": row.get("label_source"),
        "source": row.get("source"),
        "has_context": bool(context and context.strip()),
        "example_id": row.get("example_id"),
    }
    return ChatExample(list(encoded.ids), list(encoded.loss_mask), list(encoded.emotion_targets), document)
