"""Held-out evaluation shared by the trainer (validation) and the ``model_eval`` asset (test).

- :func:`lm_loss`: token-weighted cross-entropy on a shard's trained targets (perplexity = exp).
- :func:`emotion_scores`: the emotion head read at every labelled turn's ``<|end|>`` (where the
  engine reads it), scored with the datasets baseline's own function
  (:func:`labeling.baseline.macro_f1_scores`: macro-F1 over the labels present in the gold set).
- :func:`sample_replies`: a few replies through the real inference engine, to see that the model
  talks (an empty reply means it ends its turn at once).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from labeling.baseline import macro_f1_scores
from labeling.chat_format import Turn
from labeling.emotions import EMOTIONS
from model.batches import evaluation_batches
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
) -> list[tuple[int, int, int]]:
    """``(document index, true label id, predicted label id)`` for every labelled ``<|end|>``."""
    rows: list[tuple[int, int, int]] = []
    first_document = 0
    for batch in evaluation_batches(shard, block_size, batch_size, pad_id, max_examples, keep_labels=True):
        emotion_logits = model(batch.idx.to(device)).emotion_logits.float().cpu()
        labelled = (batch.emotion != NO_EMOTION).nonzero().tolist()
        for row, position in labelled:
            predicted = int(emotion_logits[row, position].argmax())
            rows.append((first_document + row, int(batch.emotion[row, position]), predicted))
        first_document += batch.idx.shape[0]
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


SAMPLE_PROMPTS: tuple[tuple[Turn, ...], ...] = (
    (Turn("user", "Hi Rosie! How are you today?"),),
    (Turn("user", action="poke"),),
    (Turn("user", "I had a really bad day at work."),),
    (Turn("user", "What should we do this weekend?"),),
    (Turn("user", "Wheee!", action="drag"),),
    (Turn("user", "Tell me something fun."),),
)


def sample_replies(
    model: torch.nn.Module, tokenizer: Any, *, max_new_tokens: int = 48, seed: int = 0
) -> list[dict]:
    """Rosie's replies to a few fixed prompts, through the inference engine.

    ``min_new_tokens=0`` so nothing hides a model that ends its turn at once: such a reply shows up
    empty here and counts in ``empty_reply_rate``.
    """
    from model.engine import Engine
    from model.sampling import SamplingConfig

    engine = Engine(model, tokenizer)
    replies = []
    for turns in SAMPLE_PROMPTS:
        prompt_ids = engine.encode_prompt(list(turns))
        room = engine.block_size - len(prompt_ids) - 1  # her closing <|end|> takes one position
        sampling = SamplingConfig(
            temperature=0.7,
            top_k=40,
            top_p=0.95,
            max_new_tokens=min(max_new_tokens, room),
            min_new_tokens=0,
            seed=seed,
        )
        reply = engine.generate(prompt_ids, sampling=sampling)
        user = turns[-1]
        prompt = (f"[{user.action}] " if user.action else "") + user.text
        replies.append({"prompt": prompt.strip(), "emotion": reply.emotion.label, "reply": reply.text})
    return replies
