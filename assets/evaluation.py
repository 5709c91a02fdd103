"""Evaluation group: ``model_eval`` scores ``final.pth`` on the held-out test splits.

- perplexity on held-out chat (the personality test split, Rosie's turns only);
- emotion macro-F1 on the emotion test split's gold labels, beside the datasets' TF-IDF baseline
  (``datasets/emotion/baseline.json``), read at each ``<|rosie|>`` position as the engine reads it;
- a handful of sample replies through the inference engine, and how many came out empty.
"""

import json
import math

import torch
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from foundation.atomic import write_text_atomic
from labeling.special_tokens import PAD
from model.evaluate import emotion_scores, lm_loss, sample_replies
from model.shards import TokenShard
from model.weights import load_model
from pipelines.resources import StorageResource

EVAL_BATCH_SIZE = 32


def _replies_table(replies: list[dict]) -> str:
    rows = ["| prompt | emotion | reply |", "|---|---|---|"]
    rows += [f"| {r['prompt']} | {r['emotion']} | {r['reply'] or '*(empty)*'} |" for r in replies]
    return "\n".join(rows).replace("\n\n", "\n")


@asset(
    group_name="evaluation",
    deps=[
        AssetKey("final_model"),
        AssetKey("personality_tokens"),
        AssetKey("emotion_tokens"),
        AssetKey("emotion_baseline"),
    ],
    description="Test-split perplexity, emotion macro-F1 vs the TF-IDF baseline, sample replies of final.pth",
)
def model_eval(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    settings = storage.settings
    model, tokenizer, config = load_model(settings.model_dir, "final")
    pad_id = tokenizer.token_id(PAD)
    device = torch.device("cpu")
    chat = TokenShard(settings.layout.tokens_dir("personality") / "test")
    loss = lm_loss(model, chat, config.block_size, EVAL_BATCH_SIZE, pad_id, device)
    emotion = TokenShard(settings.layout.tokens_dir("emotion") / "test")
    every = emotion_scores(model, emotion, config.block_size, EVAL_BATCH_SIZE, pad_id, device)
    gold = every.pop("gold")
    baseline_file = settings.layout.baseline_path
    baseline = json.loads(baseline_file.read_text()) if baseline_file.exists() else None
    replies = sample_replies(model, tokenizer)
    empty = sum(not r["reply"] for r in replies)
    figures = {
        "chat_test_loss": loss,
        "chat_test_perplexity": math.exp(loss) if loss is not None else None,
        "emotion_test_gold": gold,
        "emotion_test_all_labels": every,
        "baseline_macro_f1": baseline["macro_f1"] if baseline else None,
        "sample_replies": replies,
        "empty_reply_rate": empty / len(replies),
    }
    report = write_text_atomic(
        json.dumps(figures, indent=2), settings.layout.evaluation_report
    )
    if empty:
        context.log.warning(
            f"{empty}/{len(replies)} sample replies are empty: the model ends its turn at once"
        )
    metadata = {
        "chat_test_perplexity": round(figures["chat_test_perplexity"], 3) if loss is not None else None,
        "emotion_macro_f1": gold["macro_f1"],
        "emotion_accuracy": gold["accuracy"],
        "emotion_gold_examples": gold["n"],
        "emotion_macro_f1_all_labels": every["macro_f1"],
        "baseline_macro_f1": figures["baseline_macro_f1"],
        "macro_f1_vs_baseline": round(gold["macro_f1"] / baseline["macro_f1"], 3)
        if baseline and baseline["macro_f1"]
        else None,
        "per_class_f1": MetadataValue.json(gold["per_class_f1"]),
        "sample_replies": MetadataValue.md(_replies_table(replies)),
        "empty_reply_rate": figures["empty_reply_rate"],
        "report": MetadataValue.path(str(report)),
    }
    return MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})
