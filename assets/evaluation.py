"""Evaluation group: ``model_eval`` scores ``final.pth`` on the held-out test splits.

- perplexity on held-out chat (the personality test split, Rosie's turns only);
- the emotion head beside the datasets' TF-IDF baseline (``datasets/emotion/baseline.json``) on the
  same gold test rows, for the mix and per source, the head read at each labelled turn's
  ``<|end|>`` as the engine reads it;
- replies to personality test prompts through the inference engine: the share that is well formed
  (``model/reply_quality.py``), with examples showing both emotions.
"""

import json
import math

import pyarrow.parquet as pq
import torch
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from foundation.atomic import write_text_atomic
from labeling.datasets import personality_conversations
from labeling.special_tokens import PAD
from model.evaluate import (
    compared_rows,
    emotion_comparison,
    emotion_predictions,
    held_out_prompts,
    lm_loss,
    reply_quality,
)
from model.reply_quality import Reference
from model.shards import TokenShard
from model.weights import load_model
from pipelines.resources import StorageResource

EVAL_BATCH_SIZE = 32
REPLY_PROMPTS = 96  # personality test prompts answered (a share over 96 is within ~±6 points)
SHOWN_REPLIES = 10
# Gold test rows scored per source (head and baseline on the same ones): the first 1,000 of each
# (rows are in text-hash order). All 9,000 cost several minutes on 2 cores; 1,000 keep a source's
# macro-F1 within about ±0.03.
ROWS_PER_SOURCE = 1_000


def _emotion_table(comparison: dict[str, dict]) -> str:
    head, baseline = comparison["head"], comparison.get("baseline", {})
    rows = ["| source | rows | head macro-F1 | baseline macro-F1 | head accuracy | baseline accuracy |"]
    rows.append("|---|---|---|---|---|---|")
    for source, scores in head.items():
        peer = baseline.get(source, {})
        rows.append(
            f"| {source} | {scores['n']} | {scores['macro_f1']} | {peer.get('macro_f1', '-')} "
            f"| {scores['accuracy']} | {peer.get('accuracy', '-')} |"
        )
    return "\n".join(rows)


def _replies_table(replies: list[dict]) -> str:
    rows = ["| prompt | you | Rosie | her reply | well formed |", "|---|---|---|---|---|"]
    for r in replies:
        verdict = "yes" if not r["problems"] else ", ".join(r["problems"])
        text = (r["reply"] or "*(empty)*").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {r['prompt']} | {r['user_emotion']} | {r['emotion']} | {text} | {verdict} |")
    return "\n".join(rows)


def _reference(storage: StorageResource) -> Reference:
    """What Rosie was trained on: the pretraining corpus and the personality train split."""
    texts = [
        text
        for path in sorted(storage.settings.layout.pretrain_dir.glob("*.parquet"))
        for text in pq.read_table(path, columns=["text"]).column("text").to_pylist()
    ]
    texts += [t.text for turns in personality_conversations(storage.settings, "train") for t in turns]
    return Reference.from_texts(texts)


@asset(
    group_name="evaluation",
    deps=[
        AssetKey("final_model"),
        AssetKey("personality_tokens"),
        AssetKey("emotion_tokens"),
        AssetKey("emotion_baseline"),
    ],
    description="Test-split perplexity, emotion macro-F1 per source beside the TF-IDF baseline, "
    "well-formed replies to held-out prompts",
)
def model_eval(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    settings = storage.settings
    model, tokenizer, config = load_model(settings.model_dir, "final")
    pad_id = tokenizer.token_id(PAD)
    device = torch.device("cpu")
    chat = TokenShard(settings.layout.tokens_dir("personality") / "test")
    loss = lm_loss(model, chat, config.block_size, EVAL_BATCH_SIZE, pad_id, device)
    baseline_file = settings.layout.baseline_path
    baseline = json.loads(baseline_file.read_text()) if baseline_file.exists() else None
    emotion = TokenShard(settings.layout.tokens_dir("emotion") / "test")
    baseline_predictions = baseline["predictions"] if baseline else None
    rows = compared_rows(emotion, baseline_predictions, ROWS_PER_SOURCE)
    predictions = emotion_predictions(
        model, emotion, config.block_size, EVAL_BATCH_SIZE, pad_id, device, documents=rows
    )
    comparison = emotion_comparison(emotion, predictions, baseline_predictions)
    prompts = held_out_prompts(personality_conversations(settings, "test"), REPLY_PROMPTS)
    replies = reply_quality(model, tokenizer, prompts, _reference(storage))
    head = comparison["head"]
    figures = {
        "chat_test_loss": loss,
        "chat_test_perplexity": math.exp(loss) if loss is not None else None,
        "emotion_test_gold": comparison,
        "well_formed_reply_share": replies["well_formed_share"],
        "empty_reply_share": replies["empty_share"],
        "reply_problems": replies["problems"],
        "replies": replies["replies"],
    }
    report = write_text_atomic(json.dumps(figures, indent=2), settings.layout.evaluation_report)
    context.log.info(f"emotion head vs baseline on the same test rows:\n{_emotion_table(comparison)}")
    if replies["empty_share"]:
        context.log.warning(f"{replies['empty_share']:.0%} of the replies are empty: the model stops at once")
    goemotions = head.get("goemotions", {})
    peer = comparison.get("baseline", {})
    metadata = {
        "chat_test_perplexity": round(figures["chat_test_perplexity"], 3) if loss is not None else None,
        "emotion_macro_f1": head["all"]["macro_f1"],
        "emotion_accuracy": head["all"]["accuracy"],
        "emotion_gold_examples": head["all"]["n"],
        "emotion_macro_f1_goemotions": goemotions.get("macro_f1"),
        "baseline_macro_f1": peer.get("all", {}).get("macro_f1"),
        "baseline_macro_f1_goemotions": peer.get("goemotions", {}).get("macro_f1"),
        "emotion_by_source": MetadataValue.md(_emotion_table(comparison)),
        "per_class_f1": MetadataValue.json(head["all"]["per_class_f1"]),
        "well_formed_reply_share": replies["well_formed_share"],
        "empty_reply_share": replies["empty_share"],
        "reply_problems": MetadataValue.json(replies["problems"]),
        "replies": MetadataValue.md(_replies_table(replies["replies"][:SHOWN_REPLIES])),
        "report": MetadataValue.path(str(report)),
    }
    return MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})
