"""Weight files: a ``.pth`` state_dict, the same tensors as ``.safetensors``, and a lineage manifest.

Both formats load without executing code (``torch.load(weights_only=True)`` / ``safetensors``).
The LM head is tied functionally to the token embedding, so the state_dict holds no shared
tensors and both formats store exactly the same keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from foundation.atomic import atomic_path, write_text_atomic
from foundation.hashing import file_sha256
from foundation.layout import ModelFiles
from model.config import ModelConfig
from model.gpt import RosieGPT
from model.tokenizer import RosieTokenizer


def manifest_path(weights_path: str | os.PathLike) -> Path:
    path = Path(weights_path)
    return path.with_name(f"{path.stem}.manifest.json")


def save_weights(model: RosieGPT, path: str | os.PathLike, manifest: dict | None = None) -> Path:
    """Write ``path`` (.pth), its ``.safetensors`` twin and ``<name>.manifest.json``, each atomically.

    ``manifest`` carries the caller's lineage (data hashes, tokenizer hash, phase, ...); the file
    hashes, config and parameter count are added here.
    """
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    safetensors_path = path.with_suffix(".safetensors")
    with atomic_path(safetensors_path) as tmp:
        save_file(state, str(tmp))
    record = {
        **(manifest or {}),
        "weights": path.name,
        "sha256": file_sha256(path),
        "safetensors": safetensors_path.name,
        "safetensors_sha256": file_sha256(safetensors_path),
        "config": model.config.to_dict(),
        "parameters": model.num_parameters(),
    }
    write_text_atomic(json.dumps(record, indent=2, sort_keys=True) + "\n", manifest_path(path))
    return path


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors from a ``.pth`` or ``.safetensors`` file, without executing any pickled code."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: train the phase that writes it first")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def load_weights(model: RosieGPT, path: str | os.PathLike) -> RosieGPT:
    """Load a state_dict written by ``save_weights`` (either format) into ``model``, strictly."""
    model.load_state_dict(read_state_dict(path), strict=True)
    return model


def load_model(model_dir: str | os.PathLike,
               weights: str = "final") -> tuple[RosieGPT, RosieTokenizer, ModelConfig]:
    """Config, tokenizer and weights from a model folder; ``weights`` is a phase name or a file path.

    The model comes back in eval mode on CPU.
    """
    files = ModelFiles(Path(model_dir))
    config = ModelConfig.load_json(files.config_path)
    tokenizer = RosieTokenizer.load(files.tokenizer_dir)
    if tokenizer.vocab_size > config.vocab_size:
        raise ValueError(
            f"tokenizer in {files.tokenizer_dir} has {tokenizer.vocab_size} tokens but the model "
            f"only {config.vocab_size}: the two come from different runs"
        )
    weights_path = Path(weights) if Path(weights).suffix else files.weights_path(weights)
    model = load_weights(RosieGPT(config), weights_path)
    model.eval()
    return model, tokenizer, config

