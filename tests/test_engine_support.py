"""A tiny untrained Rosie for the engine, chat, server, CLI and bot tests (helpers only, no tests here).

The tokenizer is trained on chatterbot lines from the sample data; the model is a 2-layer,
64-wide RosieGPT with random weights saved with ``save_weights``, so every test loads it
through the same path as a real ``models/rosie_model``.
"""

from __future__ import annotations

from pathlib import Path

from model.engine import Engine
from model.sampling import SamplingConfig
from model.untrained import sample_texts, write_untrained_model

TINY_SHAPE = {"vocab_size": 400, "n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 256}


def tiny_model_dir(directory: Path, data_root: Path) -> Path:
    return write_untrained_model(directory, sample_texts(str(data_root), 400), **TINY_SHAPE)


def tiny_engine(directory: Path, data_root: Path, **sampling: int) -> Engine:
    """An engine over a fresh tiny model; ``sampling`` overrides its default SamplingConfig."""
    return Engine.load(tiny_model_dir(directory, data_root), sampling=SamplingConfig(**sampling))
