"""An untrained model folder: random weights and a tokenizer trained on a few sample lines.

For wiring up the desktop app, the bot, benchmarks and tests before training has produced
``final.pth``; ``rosie untrained-model --out DIR`` writes one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import yaml

from foundation.data_root import DataRoot
from foundation.layout import ModelFiles
from model.config import ModelConfig
from model.gpt import RosieGPT
from model.tokenizer import RosieTokenizer
from model.weights import save_weights

CHATTERBOT = "chitchat/chatterbot_corpus_english"


def write_untrained_model(
    out_dir: Path, texts: Sequence[str], preset: str = "demo", *, seed: int = 0, **overrides: int
) -> Path:
    """A complete model folder with random weights and a tokenizer trained on ``texts``.

    The config's vocab is set to the tokenizer's real size; ``seed`` makes the weights reproducible.
    """
    files = ModelFiles(Path(out_dir))
    vocab_size = overrides.pop("vocab_size", None) or ModelConfig.from_preset(preset).vocab_size
    tokenizer = RosieTokenizer.train(texts, vocab_size)
    config = ModelConfig.from_preset(preset, vocab_size=tokenizer.vocab_size, **overrides)
    files.root.mkdir(parents=True, exist_ok=True)
    config.save_json(files.config_path)
    tokenizer.save(files.tokenizer_dir)
    torch.manual_seed(seed)
    save_weights(RosieGPT(config), files.weights_path("final"), {"phase": "untrained"})
    return files.root


def sample_texts(data_root: str, limit: int = 2000) -> list[str]:
    """Short dialogue lines from the sample chit-chat corpus (tokenizer training for untrained models)."""
    root = DataRoot(data_root)
    texts: list[str] = []
    for path in root.list(CHATTERBOT, ".yml") if root.exists(CHATTERBOT) else []:
        document = yaml.safe_load(root.read_bytes(path).decode("utf-8")) or {}
        for conversation in document.get("conversations") or []:
            texts.extend(str(line) for line in conversation)
    if not texts:
        raise FileNotFoundError(
            f"no {CHATTERBOT}/*.yml under {data_root}: set ROSIE_DATA_ROOT to the sample data"
        )
    return texts[:limit]
