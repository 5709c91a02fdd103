"""Next-token sampling: temperature, top-k, top-p (nucleus), repetition penalty, banned tokens.

Each step is a pure function of the logits so it can be tested on hand-made tensors; the engine
chains them in the same order as Hugging Face's ``generate`` (penalty, temperature, top-k, top-p).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

import torch


@dataclass(frozen=True)
class SamplingConfig:
    """How one reply is sampled. ``temperature == 0`` means greedy decoding.

    ``min_new_tokens`` suppresses the end-of-turn token for Rosie's first words, so an undertrained
    model that wants to stop at once still says something.
    """

    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    max_new_tokens: int = 64
    min_new_tokens: int = 2
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 disables it), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(
                f"min_new_tokens must be in [0, max_new_tokens={self.max_new_tokens}], "
                f"got {self.min_new_tokens}"
            )

    def with_overrides(self, **overrides: object) -> SamplingConfig:
        """A copy with the non-None overrides applied (request fields left unset keep the default).

        A lower ``max_new_tokens`` alone also lowers the default ``min_new_tokens`` to fit under it.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        if "min_new_tokens" not in given and "max_new_tokens" in given:
            given["min_new_tokens"] = min(self.min_new_tokens, int(given["max_new_tokens"]))
        return replace(self, **given)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def apply_repetition_penalty(
    logits: torch.Tensor, previous_ids: Iterable[int], penalty: float
) -> torch.Tensor:
    """CTRL-style penalty: divide positive logits (multiply negative ones) of tokens already seen."""
    ids = torch.tensor(sorted(set(previous_ids)), dtype=torch.long)
    if penalty == 1.0 or ids.numel() == 0:
        return logits
    out = logits.clone()
    seen = out[ids]
    out[ids] = torch.where(seen > 0, seen / penalty, seen * penalty)
    return out


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability mass reaches p (always at least one)."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    # Drop a token when the mass *before* it already reaches p; the top token is always kept.
    drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= p
    drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_next_token(
    logits: torch.Tensor,
    config: SamplingConfig,
    *,
    previous_ids: Iterable[int] = (),
    banned_ids: Iterable[int] = (),
    generator: torch.Generator | None = None,
) -> int:
    """Pick the next token id from a 1-D logits vector."""
    logits = logits.float()
    banned = list(banned_ids)
    if banned:
        logits = logits.clone()
        logits[banned] = float("-inf")
    logits = apply_repetition_penalty(logits, previous_ids, config.repetition_penalty)
    if config.temperature == 0:
        return int(torch.argmax(logits))
    logits = logits / config.temperature
    if 0 < config.top_k < logits.numel():
        # top-p then only sorts the k survivors, not the whole vocabulary (a 32k sort per token
        # per conversation would rival a batched decode step)
        logits, candidates = torch.topk(logits, config.top_k)
    else:
        candidates = None
    probs = torch.softmax(top_p_filter(logits, config.top_p), dim=-1)
    choice = int(torch.multinomial(probs, 1, generator=generator))
    return int(candidates[choice]) if candidates is not None else choice
