"""What decoding in less than fp32 costs in quality: perplexity and emotion-head macro-F1 with bf16
weights and with int8 weight-only weights, each against fp32.

The trained model folder (``ROSIE_MODEL_DIR``, ``final.pth``) is loaded three times through the
engine (``Engine.load(precision=...)``); each is scored on the emotion token shard's test split
(``ROSIE_ARTIFACTS_DIR``) by ``model.evaluate`` through the engine's own LM head (the int8 copy of
the tied head for int8) and emotion head.

    PYTHONPATH=. .venv/bin/python benchmarks/decode_quality.py [--examples 256]
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from foundation.settings import Settings
from labeling.special_tokens import PAD
from model.engine import DECODE_PRECISIONS, Engine
from model.evaluate import emotion_scores, lm_loss
from model.gpt import ModelOutput
from model.shards import TokenShard


class EngineHeads(torch.nn.Module):
    """An engine's model as ``model.evaluate`` calls it: logits from the engine's LM head."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    def forward(self, idx: torch.Tensor) -> ModelOutput:
        hidden = self.engine.model.hidden_states(idx)
        flat = hidden.reshape(-1, hidden.shape[-1])
        logits = self.engine.lm_head(flat).reshape(*hidden.shape[:-1], -1).float()
        emotion_logits = self.engine.model.emotion_logits(hidden, idx).float()
        return ModelOutput(logits=logits, emotion_logits=emotion_logits)


def run(examples: int = 256, batch_size: int = 8) -> dict:
    settings = Settings.from_env()
    model_dir = settings.layout.model.root
    shard = TokenShard(settings.layout.tokens_dir("emotion") / "test")
    result: dict = {"model": str(model_dir), "examples": examples}
    for name in DECODE_PRECISIONS:
        engine = Engine.load(model_dir, precision=name)
        heads = EngineHeads(engine).eval()
        pad = engine.tokenizer.token_id(PAD)
        block = engine.block_size
        loss = lm_loss(heads, shard, block, batch_size, pad, torch.device("cpu"), examples)
        scores = emotion_scores(heads, shard, block, batch_size, pad, torch.device("cpu"), examples)
        result[name] = {
            "perplexity": round(math.exp(loss), 3),
            "emotion_macro_f1": round(scores["macro_f1"], 4),
            "emotion_accuracy": round(scores["accuracy"], 4),
        }
    print(f"decode quality: {json.dumps(result)}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=256)
    run(parser.parse_args().examples)


if __name__ == "__main__":
    main()
