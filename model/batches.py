"""Training and evaluation batches from token shards, deterministic by construction.

Sampling is a pure function of ``(seed, position)``: sample ``p`` of a run is the same whether the run
was interrupted or not, and across any number of processes (each takes every ``world``-th position,
:func:`rank_positions`). Evaluation reads a fixed set of held-out batches instead
(:func:`evaluation_batches`). Not to be confused with :mod:`model.sampling`, the inference engine's
token sampling.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.shards import IGNORE_INDEX, NO_EMOTION, Example, TokenShard


@dataclass
class Batch:
    """Examples stacked into ``[batch, block]`` tensors, as the model and its losses take them."""

    idx: torch.Tensor
    targets: torch.Tensor
    emotion: torch.Tensor

    @classmethod
    def stack(cls, examples: Sequence[Example]) -> Batch:
        columns = ("idx", "targets", "emotion")
        return cls(*(torch.from_numpy(np.stack([getattr(e, c) for e in examples])) for c in columns))


class ShardSampler:
    """Random training windows, a pure function of ``(seed, position)``.

    Text shards: a window starts anywhere in the token stream (documents are packed, separated by
    ``<|endoftext|>``). Chat shards: a window starts at a conversation's first token, so every
    sample sees a conversation from its beginning (later conversations fill the rest of the
    window); a conversation longer than the window starts anywhere inside it.
    """

    def __init__(
        self, shard: TokenShard, block_size: int, seed: int, pad_id: int, *, lm_targets: bool = True
    ) -> None:
        if len(shard) < 2:
            raise ValueError(f"token shard {shard.directory} is empty: nothing to train on")
        self.shard = shard
        self.block_size = block_size
        self.seed = seed
        self.pad_id = pad_id
        self.lm_targets = lm_targets  # False: the samples train the emotion head only

    def example(self, position: int) -> Example:
        rng = np.random.default_rng([self.seed, position])
        if self.shard.chat:
            document = int(rng.integers(self.shard.n_documents))
            start, stop = int(self.shard.offsets[document]), int(self.shard.offsets[document + 1])
            # a conversation longer than the window: any stretch of it, the last one included
            start += int(rng.integers(max(stop - start - self.block_size - 1, 0) + 1))
        else:
            start = int(rng.integers(max(len(self.shard) - self.block_size - 1, 0) + 1))
        example = self.shard.example(start, self.block_size, self.pad_id)
        if not self.lm_targets:
            example = Example(example.idx, np.full_like(example.targets, IGNORE_INDEX), example.emotion)
        return example

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


def evaluation_documents(
    shard: TokenShard, max_examples: int | None = None, documents: Sequence[int] | None = None
) -> list[int]:
    """The chat documents evaluation reads (``documents``, else the first ``max_examples``),
    shortest first: a batch pads to its longest document, so sorted batches carry almost no
    padding (several times less work on chat shards whose lengths vary)."""
    if documents is None:
        documents = range(shard.n_documents if max_examples is None else min(shard.n_documents, max_examples))
    chosen = np.asarray(documents, dtype=np.int64)
    lengths = shard.offsets[chosen + 1] - shard.offsets[chosen]
    return chosen[np.argsort(lengths, kind="stable")].tolist()


def evaluation_batches(
    shard: TokenShard,
    block_size: int,
    batch_size: int,
    pad_id: int,
    max_examples: int | None = None,
    *,
    keep_labels: bool = False,
    documents: Sequence[int] | None = None,
) -> Iterator[Batch]:
    """Fixed held-out batches (no sampling): whole conversations for chat shards, in
    :func:`evaluation_documents` order, consecutive windows for text shards. The same set every
    evaluation, so losses compare across steps."""
    if shard.chat:
        examples = (
            shard.document_example(i, block_size, pad_id, keep_label=keep_labels)
            for i in evaluation_documents(shard, max_examples, documents)
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
