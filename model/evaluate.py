"""Held-out evaluation shared by the trainer (validation) and the ``model_eval`` asset (test).

- :func:`lm_loss`: token-weighted cross-entropy on a shard's trained targets (perplexity = exp).
- :func:`emotion_scores`: the emotion head read at every labelled turn's ``<|end|>`` (where the
  engine reads it), scored with the datasets baseline's own function
  (:func:`labeling.baseline.macro_f1_scores`: macro-F1 over the labels present in the gold set).
- :func:`compared_rows`, :func:`emotion_comparison`: the head beside the TF-IDF baseline on the
  same test rows, per source.
- :func:`reply_quality`: replies to held-out prompts through the real inference engine, and the
  share that is well formed (:mod:`model.reply_quality`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn.functional as F

from labeling.baseline import macro_f1_scores, scores_by_source
from labeling.chat_format import Turn
from labeling.emotions import EMOTIONS
from model.batches import evaluation_batches, evaluation_documents
from model.reply_quality import Reference
from model.reply_quality import problems as reply_problems
from model.shards import IGNORE_INDEX, NO_EMOTION, TokenShard


@torch.no_grad()
def lm_loss(
    model: torch.nn.Module,
    shard: TokenShard,
    block_size: int,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    max_examples: int | None = None,
) -> float | None:
    """Mean LM loss (nats/token) over the shard's held-out targets; None if it has none."""
    total, count = 0.0, 0
    for batch in evaluation_batches(shard, block_size, batch_size, pad_id, max_examples):
        logits = model(batch.idx.to(device)).logits.float()
        targets = batch.targets.to(device)
        total += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        ).item()
        count += int((targets != IGNORE_INDEX).sum())
    return total / count if count else None


@torch.no_grad()
def emotion_predictions(
    model: torch.nn.Module,
    shard: TokenShard,
    block_size: int,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    max_examples: int | None = None,
    documents: Sequence[int] | None = None,
) -> list[tuple[int, int, int]]:
    """``(document index, true label id, predicted label id)`` for every labelled ``<|end|>`` (of
    ``documents``, else of the first ``max_examples``).

    Only the emotion head runs on the final hidden states: the LM head (vocabulary-wide) would be
    most of the work on a small model and nothing here reads it."""
    rows: list[tuple[int, int, int]] = []
    order = evaluation_documents(shard, max_examples, documents)
    first = 0
    batches = evaluation_batches(shard, block_size, batch_size, pad_id, keep_labels=True, documents=order)
    for batch in batches:
        idx = batch.idx.to(device)
        if hasattr(model, "hidden_states"):
            emotion_logits = model.emotion_logits(model.hidden_states(idx), idx)
        else:  # a wrapper that only has a forward (benchmarks/decode_quality.py)
            emotion_logits = model(idx).emotion_logits
        emotion_logits = emotion_logits.float().cpu()
        for row, position in (batch.emotion != NO_EMOTION).nonzero().tolist():
            predicted = int(emotion_logits[row, position].argmax())
            rows.append((order[first + row], int(batch.emotion[row, position]), predicted))
        first += batch.idx.shape[0]
    return rows


def emotion_scores(
    model: torch.nn.Module,
    shard: TokenShard,
    block_size: int,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    max_examples: int | None = None,
) -> dict[str, Any]:
    """Macro-F1/accuracy of the emotion head on a chat shard: over every label, and (when the shard
    records label provenance) over the human (``gold``) labels only, as the baseline is scored."""
    rows = emotion_predictions(model, shard, block_size, batch_size, pad_id, device, max_examples)
    scores = _scored(rows)
    documents = shard.documents()
    if "label_source" in documents.column_names:
        sources = documents.column("label_source").to_pylist()
        scores["gold"] = _scored([r for r in rows if sources[r[0]] == "gold"])
    return scores


def _scored(rows: list[tuple[int, int, int]]) -> dict[str, Any]:
    """The baseline's figures for ``(document, true, predicted)`` rows, and how many there were."""
    y_true = [EMOTIONS[t] for _, t, _ in rows]
    return {**macro_f1_scores(y_true, [EMOTIONS[p] for _, _, p in rows]), "n": len(rows)}


def compared_rows(shard: TokenShard, baseline: Mapping[str, str] | None, per_source: int | None) -> list[int]:
    """The documents the head and the baseline are compared on: gold rows the baseline predicted
    (``baseline``: ``example_id`` -> label, from ``baseline.json``), the first ``per_source`` of
    each source (all: None)."""
    taken: Counter[str] = Counter()
    chosen = []
    documents = shard.documents().select(["example_id", "source", "label_source"]).to_pylist()
    for index, row in enumerate(documents):
        scored_by_both = row["label_source"] == "gold" and (baseline is None or row["example_id"] in baseline)
        if scored_by_both and (per_source is None or taken[row["source"]] < per_source):
            taken[row["source"]] += 1
            chosen.append(index)
    return chosen


def emotion_comparison(
    shard: TokenShard, predictions: list[tuple[int, int, int]], baseline: Mapping[str, str] | None
) -> dict[str, dict]:
    """The head's ``predictions`` (:func:`emotion_predictions`) and the TF-IDF baseline's on the
    very same rows, each scored for the mix and per source (:func:`labeling.baseline.scores_by_source`)."""
    documents = shard.documents().select(["example_id", "source"]).to_pylist()
    scored = [(documents[d], EMOTIONS[true], EMOTIONS[head]) for d, true, head in sorted(predictions)]
    sources, y_true = [d["source"] for d, _, _ in scored], [t for _, t, _ in scored]
    comparison = {"head": scores_by_source(sources, y_true, [p for _, _, p in scored])}
    if baseline is not None:
        y_baseline = [baseline[d["example_id"]] for d, _, _ in scored]
        comparison["baseline"] = scores_by_source(sources, y_true, y_baseline)
    return comparison


def held_out_prompts(conversations: Sequence[Sequence[Turn]], count: int) -> list[list[Turn]]:
    """``count`` prompts spread evenly over held-out conversations: each one's turns up to and
    including its first user turn (system turn included), as a user would open the chat."""
    openings = []
    for turns in conversations:
        first_user = next((i for i, t in enumerate(turns) if t.role == "user"), None)
        if first_user is not None:
            openings.append(list(turns[: first_user + 1]))
    step = max(1, len(openings) // count) if count else 1
    return openings[::step][:count]


def reply_quality(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: Sequence[Sequence[Turn]],
    reference: Reference,
    *,
    concurrency: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Rosie's replies to ``prompts`` through the inference engine with the apps' default sampling
    (each prompt its own seed), and the share that is well formed (:mod:`model.reply_quality`).

    Replies run ``concurrency`` at a time on threads: their decode steps batch together
    (:class:`model.batching.StepBatcher`), which keeps the measurement cheap."""
    from model.engine import Engine
    from model.sampling import SamplingConfig

    engine = Engine(model, tokenizer)

    def reply(index: int) -> dict[str, Any]:
        turns = list(prompts[index])
        prompt_ids = engine.encode_prompt(turns)
        room = engine.block_size - len(prompt_ids) - 1  # her closing <|end|> takes one position
        sampling = SamplingConfig(seed=seed + index)
        sampling = sampling.with_overrides(max_new_tokens=min(sampling.max_new_tokens, room))
        answer = engine.generate(prompt_ids, sampling=sampling)
        user = turns[-1]
        return {
            "prompt": ((f"*{user.action}* " if user.action else "") + user.text).strip(),
            "reply": answer.text,
            "emotion": answer.emotion.label,
            "user_emotion": answer.user_emotion.label,
            "problems": reply_problems(answer.text, reference),
        }

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        replies = list(pool.map(reply, range(len(prompts))))
    failed = Counter(problem for r in replies for problem in r["problems"])
    return {
        "well_formed_share": sum(not r["problems"] for r in replies) / len(replies) if replies else None,
        "empty_share": failed["empty"] / len(replies) if replies else None,
        "problems": dict(failed),
        "n": len(replies),
        "replies": replies,
    }
