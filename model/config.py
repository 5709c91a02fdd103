"""Model architecture config: one dataclass, named presets, and the exact parameter-count formula.

``python -m model.config`` prints every preset's true parameter count (the product card's
"500M" for 768/12/12 is really ~120M; the table says what each shape gives).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from foundation.atomic import write_text_atomic
from labeling.emotions import EMOTIONS

# What the emotion head reads at a turn's <|end|> (model.gpt.RosieGPT.emotion_logits).
EMOTION_POOLINGS: tuple[str, ...] = ("turn_mean", "last")


@dataclass
class ModelConfig:
    """Shape of a RosieGPT.

    Positions: rotary (``rotary=True``: queries and keys rotated by their absolute position, no
    position table) or learned absolute embeddings (GPT-2 style, ``block_size`` of them); with a KV
    cache, new tokens take positions ``cache.length ...``. ``qk_norm``: queries and keys pass a
    LayerNorm per head before attention (keeps attention logits bounded at high learning rates).
    The defaults are the recipe docs/training.md measured. ``memory_every``: a gated
    memory cross-attention sublayer sits in every ``memory_every``-th block (Flamingo-style; every
    block would add 4*n_embd^2 parameters per layer for a path that only needs a few read points).
    """

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    n_personas: int = 4
    n_emotions: int = len(EMOTIONS)
    memory: bool = True
    gradient_checkpointing: bool = False
    memory_every: int = 4
    rotary: bool = True
    qk_norm: bool = True
    # what the emotion head reads at a turn's <|end|>: "turn_mean" (the mean hidden state over the
    # turn, from its role token to that position) or "last" (that position's hidden state alone)
    emotion_pooling: str = "turn_mean"
    # the head's lexical path: a table of emotion logits per token and per hashed token pair (this
    # many buckets), averaged over the turn and added to the pooled states' logits; fitted, not
    # trained (model.emotion_lexicon). 0: no lexical path.
    emotion_lexicon_buckets: int = 65536

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if min(self.vocab_size, self.block_size, self.n_layer, self.n_head, self.memory_every) < 1:
            raise ValueError(f"every size must be positive: {self}")
        if self.emotion_lexicon_buckets < 0:
            raise ValueError(f"emotion_lexicon_buckets={self.emotion_lexicon_buckets} must be >= 0")
        if self.emotion_pooling not in EMOTION_POOLINGS:
            raise ValueError(f"emotion_pooling={self.emotion_pooling!r}; expected one of {EMOTION_POOLINGS}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def memory_layers(self) -> list[int]:
        """Indices of the blocks that carry a memory cross-attention sublayer (at least the last one)."""
        if not self.memory:
            return []
        layers = [i for i in range(self.n_layer) if (i + 1) % self.memory_every == 0]
        return layers or [self.n_layer - 1]

    @classmethod
    def from_preset(cls, name: str, **overrides: object) -> ModelConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save_json(self, path: str | os.PathLike) -> Path:
        return write_text_atomic(json.dumps(self.to_dict(), indent=2) + "\n", path)

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> ModelConfig:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
        # configs written before emotion_pooling (the lexical path) existed belong to models trained
        # reading "last" (without one)
        return cls(**{"emotion_pooling": "last", "emotion_lexicon_buckets": 0, **data})


def parameter_count_formula(config: ModelConfig) -> int:
    """Closed-form count of every trainable parameter (the LM head is tied to the token embedding)."""
    d = config.n_embd
    positions = 0 if config.rotary else config.block_size * d
    embeddings = config.vocab_size * d + positions + config.n_personas * d
    layer_norm = 2 * d
    qk_norm = 2 * 2 * config.head_dim if config.qk_norm else 0  # a LayerNorm over head_dim for q and k
    # attention: fused qkv (3d^2 + 3d) + output projection (d^2 + d); MLP: d->4d->d with biases
    block = 2 * layer_norm + (4 * d * d + 4 * d) + qk_norm + (8 * d * d + 5 * d)
    # memory cross-attention: its LayerNorm, q (d^2+d), fused kv (2d^2+2d), out (d^2+d), scalar gate
    memory_block = layer_norm + 4 * d * d + 4 * d + 1
    emotion_head = d * config.n_emotions + config.n_emotions
    return (
        embeddings
        + config.n_layer * block
        + len(config.memory_layers()) * memory_block
        + layer_norm  # final LayerNorm
        + emotion_head
    )


def training_flops_per_token(config: ModelConfig, seq_len: int) -> int:
    """Forward+backward FLOPs per token (PaLM appendix B / nanoGPT's MFU convention).

    6 x the parameters every token multiplies through (blocks, LM head, emotion head; the memory path
    is skipped when no memory is given) plus 12 * layers * hidden * seq_len for attention scores.
    """
    d = config.n_embd
    matmul_params = config.n_layer * 12 * d * d + config.vocab_size * d + d * config.n_emotions
    return 6 * matmul_params + 12 * config.n_layer * d * seq_len


PRESETS: dict[str, ModelConfig] = {
    # seconds per step on a 2-core CPU; vocab matches the demo tokenizer
    "demo": ModelConfig(vocab_size=8192, block_size=256, n_layer=4, n_head=4, n_embd=256),
    # the product card's shape: 768 hidden, 12 layers, 12 heads, 2048 context, 32k vocab
    "gpt768": ModelConfig(vocab_size=32000, block_size=2048, n_layer=12, n_head=12, n_embd=768),
    # what "500M" really takes: 1280 hidden x 22 layers
    "500m": ModelConfig(vocab_size=32000, block_size=2048, n_layer=22, n_head=20, n_embd=1280),
    # ~1B: 2048 hidden x 18 layers, 128-dim heads
    "1b": ModelConfig(vocab_size=32000, block_size=2048, n_layer=18, n_head=16, n_embd=2048),
}


def parameter_table() -> str:
    """Markdown table of every preset's shape and true parameter count."""
    header = "| preset | vocab | ctx | layers | heads | hidden | memory layers | parameters |"
    rows = [header, "|" + "---|" * 8]
    for name, c in PRESETS.items():
        n = parameter_count_formula(c)
        rows.append(
            f"| {name} | {c.vocab_size:,} | {c.block_size:,} | {c.n_layer} | {c.n_head} | {c.n_embd} "
            f"| {len(c.memory_layers())} | {n:,} ({n / 1e6:.1f}M) |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(parameter_table())
