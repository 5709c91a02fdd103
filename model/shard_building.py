"""Building the phases' token shards: the pretraining corpus as text shards, the personality and
emotion datasets as chat shards, with the counts of each split (kept + filtered + quarantined).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from labeling.chat_format import Turn
from labeling.special_tokens import END_OF_TEXT, END_OF_TURN
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
