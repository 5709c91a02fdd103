"""The inference engine: one reply at a time per call, streamed token by token over a KV cache.

Emotion rule (shared with training, see docs/inference.md): the emotion of a turn is the emotion
head read at the end of that turn's text, its ``<|end|>``, where training put the head's target
(``labeling.chat_format``), over the hidden states of that turn (``RosieGPT.emotion_logits``). The
prompt ends with the user's turn and ``<|rosie|>``: the head at the user's ``<|end|>`` is the
emotion of their message, read from the prefill at no extra cost. Her turn's hidden states are kept
as she speaks; when her reply ends, her ``<|end|>`` goes through the model as one more step on the
cache and the head reads her whole turn there: a reading of the words she wrote.

``Engine`` is thread-safe: the weights are read-only and every call owns its KV cache. Concurrent
conversations (one ``stream`` each, on their own threads) share their decode steps: each step is one
batched forward for every conversation waiting for its next token (continuous batching,
:mod:`model.batching`), so eight chats read the weights once per step, not eight times. Bounding
how many run at once is left to the caller (the apps' generation slots).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from labeling.chat_format import Turn
from labeling.emotions import EMOTIONS
from labeling.special_tokens import END_OF_TEXT, END_OF_TURN, SPECIAL_TOKENS
from model.batching import StepBatcher
from model.sampling import SamplingConfig, sample_next_token


class PromptTooLongError(ValueError):
    """The prompt plus the reply budget does not fit the model's context."""


@dataclass(frozen=True)
class EmotionReading:
    """The emotion head's verdict on one turn's text: its argmax label and the full distribution."""

    label: str
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "probabilities": self.probabilities}


@dataclass(frozen=True)
class EmotionEvent:
    """The emotion of a finished turn: the user's message (``role="user"``, before the first token)
    or Rosie's reply (``role="rosie"``, after the last one)."""

    emotion: EmotionReading
    role: str
    kind: str = "emotion"


@dataclass(frozen=True)
class TokenEvent:
    """One generated token and the text it completes ("" while a UTF-8 character is still partial;
    a final event with ``token_id=None`` flushes a character left incomplete at the end)."""

    text: str
    token_id: int | None
    kind: str = "token"


@dataclass(frozen=True)
class Reply:
    """A finished (or cancelled) reply, the emotions of the reply and of the message it answers."""

    text: str
    emotion: EmotionReading
    user_emotion: EmotionReading
    token_ids: list[int]
    finish_reason: str  # end_of_turn | max_tokens | cancelled
    prompt_tokens: int
    first_token_latency_s: float
    decode_tokens_per_s: float
    kind: str = field(default="done")

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "emotion": self.emotion.label,
            "probabilities": self.emotion.probabilities,
            "user_emotion": self.user_emotion.to_dict(),
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": len(self.token_ids),
            "first_token_latency_s": round(self.first_token_latency_s, 4),
            "decode_tokens_per_s": round(self.decode_tokens_per_s, 2),
        }


GenerationEvent = EmotionEvent | TokenEvent | Reply


DECODE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
DECODE_PRECISIONS = ("fp32", "bf16", "int8")  # what the weights decode in
DECODE_CHOICES = ("auto", *DECODE_PRECISIONS)  # what may be asked for: "auto" picks fp32 or bf16


def decode_precision(requested: str) -> str:
    """The precision the engine decodes in. ``auto``: bf16 weights where this CPU's bf16 matmul
    measures faster than fp32 (the trainer's probe, :func:`model.distributed.cpu_bf16_is_faster`),
    else fp32. bf16 halves the bytes each token reads, and unlike fp32 its few-row matmuls stay near
    the memory bound, which is what batching conversations together needs."""
    if requested not in DECODE_CHOICES:
        raise ValueError(f"decode precision {requested!r}: expected one of {', '.join(DECODE_CHOICES)}")
    if requested != "auto":
        return requested
    from model.distributed import cpu_bf16_is_faster

    return "bf16" if cpu_bf16_is_faster() else "fp32"


def kv_cache_dtype(model: torch.nn.Module) -> torch.dtype:
    """The KV cache's dtype: the weights', except bf16 weights on a CPU whose single-query bf16
    attention measures slower than fp32 (:func:`model.distributed.cpu_bf16_attention_is_faster`),
    where the cache is fp32: twice the bytes, still the faster read."""
    weight = model.tok_emb.weight
    if weight.dtype == torch.bfloat16 and weight.device.type == "cpu":
        from model.distributed import cpu_bf16_attention_is_faster

        return torch.bfloat16 if cpu_bf16_attention_is_faster() else torch.float32
    return weight.dtype


class _ReplySampler:
    """Picks each token of one reply from the logits after the last (on the batcher's forward thread
    while it decodes, :meth:`model.batching.StepBatcher.decode`): None once the reply ends, with
    ``finish_reason`` saying why (``max_tokens``, ``end_of_turn`` or ``cancelled``)."""

    def __init__(
        self, engine: Engine, prompt_ids: list[int], sampling: SamplingConfig, cancel: threading.Event | None
    ) -> None:
        self.engine, self.prompt_ids, self.sampling, self.cancel = engine, prompt_ids, sampling, cancel
        self.generator = torch.Generator().manual_seed(sampling.seed) if sampling.seed is not None else None
        self.generated: list[int] = []
        self.finish_reason = "max_tokens"
        self.stopped = False

    def __call__(self, logits: torch.Tensor) -> int | None:
        if self.stopped or len(self.generated) == self.sampling.max_new_tokens:
            return None
        if self.cancel is not None and self.cancel.is_set():
            self.finish_reason = "cancelled"
            return None
        engine = self.engine
        early = len(self.generated) < self.sampling.min_new_tokens
        token = sample_next_token(
            logits,
            self.sampling,
            previous_ids=self.prompt_ids + self.generated,
            banned_ids=engine.banned_ids + (engine.stop_ids if early else []),
            generator=self.generator,
        )
        if token in engine.stop_ids:
            self.finish_reason = "end_of_turn"
            return None
        self.generated.append(token)
        return token


class Engine:
    """Generates Rosie's replies from a loaded model and tokenizer."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        sampling: SamplingConfig | None = None,
        lm_head: Callable[[torch.Tensor], torch.Tensor] | None = None,
        precision: str = "fp32",
    ) -> None:
        self.model = model.eval()
        self.precision = precision  # what its weights decode in: fp32, bf16 or int8
        self._memory_dtype = DECODE_DTYPES.get(precision, torch.float32)  # int8 layers take fp32 input
        self.cache_dtype = kv_cache_dtype(model)
        # Next-token logits from a final hidden state. Only the last position needs them: at a
        # 512-token prompt and a 32k vocab, the full-sequence head would cost ~13% of the prefill.
        # RosieGPT ties its head to the token embedding (model/gpt.py); int8 passes a quantized copy.
        self.lm_head = lm_head or (lambda hidden: F.linear(hidden, model.tok_emb.weight))
        self.batcher = StepBatcher(self.model, self.lm_head)
        self.tokenizer = tokenizer
        self.config = model.config
        self.default_sampling = sampling or SamplingConfig()
        self.end_of_turn_id = tokenizer.token_id(END_OF_TURN)
        self.stop_ids = [self.end_of_turn_id, tokenizer.token_id(END_OF_TEXT)]
        # Inside a reply Rosie may only write words or end her turn: every other special token
        # (roles, actions, pad) would break the chat format.
        self.banned_ids = [
            tokenizer.token_id(t) for t in SPECIAL_TOKENS if tokenizer.token_id(t) not in self.stop_ids
        ]

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        weights: str = "final",
        *,
        precision: str = "fp32",
        sampling: SamplingConfig | None = None,
    ) -> Engine:
        """Load ``model_dir`` (config.json, tokenizer/, weights/<weights>.pth or a .pth path) to decode
        in ``precision`` (:func:`decode_precision`): fp32, bf16 weights, int8 weight-only, or auto."""
        from model.weights import load_model

        precision = decode_precision(precision)  # a wrong name fails before the weights are read
        model, tokenizer, _ = load_model(Path(model_dir), weights=weights)
        return cls.from_model(model, tokenizer, precision, sampling=sampling)

    @classmethod
    def from_model(
        cls,
        model: torch.nn.Module,
        tokenizer,
        precision: str = "fp32",
        *,
        sampling: SamplingConfig | None = None,
    ) -> Engine:
        """An engine over a full-precision ``model`` that decodes in ``precision``
        (:func:`decode_precision`): its weights cast to bf16, or int8 weight-only with an int8 copy of
        the tied LM head."""
        precision = decode_precision(precision)
        if precision == "int8":
            from model.quantize import quantize_int8, quantized_tied_head

            head = quantized_tied_head(model.tok_emb.weight)
            return cls(quantize_int8(model), tokenizer, sampling=sampling, lm_head=head, precision="int8")
        return cls(model.to(DECODE_DTYPES[precision]), tokenizer, sampling=sampling, precision=precision)

    @property
    def block_size(self) -> int:
        return int(self.config.block_size)

    @property
    def decoding(self) -> dict[str, str]:
        """What this engine decodes in: its weights' precision and its KV cache's dtype."""
        return {"precision": self.precision, "kv_cache": str(self.cache_dtype).removeprefix("torch.")}

    def prompt_budget(self, sampling: SamplingConfig) -> int:
        """Tokens the prompt may use so the reply and her closing ``<|end|>`` still fit."""
        return self.block_size - sampling.max_new_tokens - 1

    def encode_prompt(self, turns: Sequence[Turn]) -> list[int]:
        """Token ids of the conversation followed by ``<|rosie|>`` (her turn to speak)."""
        return list(self.tokenizer.encode_chat(list(turns), add_generation_prompt=True).ids)

    def _step(
        self, ids: list[int], cache, persona_id: int, memory: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``ids`` (advancing ``cache``): next-token logits [V] after the last one and the final
        hidden states [len(ids), n_embd] (what the emotion head reads, :meth:`_reading`).

        One token is a decode step, a prompt a prefill: each joins the other conversations' pending
        ones in one batched forward (:class:`model.batching.StepBatcher`)."""
        if memory is not None:
            memory = memory.to(self._memory_dtype)  # memories are stored fp32 (Engine.embed)
        if len(ids) == 1:
            hidden, logits = self.batcher.step(ids[0], cache, persona_id, memory)
            return logits, hidden[None]
        hidden, logits = self.batcher.prefill(ids, cache, persona_id, memory)
        return logits, hidden

    def _reading(self, hidden: torch.Tensor, ids: Sequence[int], position: int = -1) -> EmotionReading:
        """The head's reading at ``position`` of a stretch of hidden states [len(ids), n_embd] that
        holds the whole turn ending there (from its role token: the head pools over the turn)."""
        with torch.inference_mode():
            logits = self.model.emotion_logits(hidden[None], torch.tensor([list(ids)], dtype=torch.long))
        probs = torch.softmax(logits[0, position].float(), dim=-1).tolist()
        label = EMOTIONS[max(range(len(probs)), key=probs.__getitem__)]
        return EmotionReading(label, {e: round(p, 6) for e, p in zip(EMOTIONS, probs, strict=True)})

    def read_emotion(
        self, ids: list[int], *, persona_id: int = 0, memory: torch.Tensor | None = None
    ) -> EmotionReading:
        """The emotion of the turn ``ids`` ends with (at its ``<|end|>``), without generating."""
        if not ids or ids[-1] != self.end_of_turn_id:
            raise ValueError("read_emotion takes ids ending with a turn's <|end|> (no <|rosie|> after it)")
        self.check_fits(ids, 0)
        cache = self.model.new_kv_cache(1, len(ids), self.cache_dtype)
        return self._reading(self._step(ids, cache, persona_id, memory)[1], ids)

    def check_fits(self, prompt_ids: list[int], max_new_tokens: int) -> None:
        needed = len(prompt_ids) + 1 + max_new_tokens
        if needed > self.block_size:
            raise PromptTooLongError(
                f"prompt of {len(prompt_ids)} tokens + {max_new_tokens} new tokens exceeds the "
                f"model's context of {self.block_size}; shorten the message or lower max_new_tokens"
            )

    def stream(
        self,
        prompt_ids: list[int],
        *,
        sampling: SamplingConfig | None = None,
        persona_id: int = 0,
        memory: torch.Tensor | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[GenerationEvent]:
        """Yield the user's EmotionEvent, a TokenEvent per generated token, Rosie's EmotionEvent,
        then the Reply. ``prompt_ids`` end with the user's turn and ``<|rosie|>`` (:meth:`encode_prompt`)."""
        sampling = sampling or self.default_sampling
        self.check_fits(prompt_ids, sampling.max_new_tokens)
        started = time.perf_counter()
        cache = self.model.new_kv_cache(1, len(prompt_ids) + 1 + sampling.max_new_tokens, self.cache_dtype)
        if memory is not None:
            memory = memory.to(self._memory_dtype)  # memories are stored fp32 (Engine.embed)

        logits, hidden = self._step(prompt_ids, cache, persona_id, memory)
        user_emotion = self._reading(hidden, prompt_ids, -2)  # the user's <|end|>, just before <|rosie|>
        yield EmotionEvent(user_emotion, role="user")
        # her turn's hidden states, from <|rosie|> on: what her emotion is read from
        turn_hidden = [hidden[-1:]]

        # decoding from here to her closing <|end|>: the batcher's steps wait briefly for this chat
        sampler = _ReplySampler(self, prompt_ids, sampling, cancel)
        with self.batcher.decoding():
            generated: list[int] = []
            emitted = ""
            token_times: list[float] = []
            token = sampler(logits)
            # the forward thread feeds each token and picks the next one (model.batching)
            steps = None if token is None else self.batcher.decode(token, cache, persona_id, memory, sampler)
            try:
                while token is not None:
                    token_times.append(time.perf_counter())
                    generated.append(token)
                    text = self.tokenizer.decode(generated, skip_special=True)
                    # Byte-level BPE can split a UTF-8 character across tokens: hold it back until complete.
                    delta = "" if text.endswith("\ufffd") else text[len(emitted) :]
                    emitted += delta
                    yield TokenEvent(delta, token)
                    step_hidden, token = next(steps)
                    turn_hidden.append(step_hidden[None])
            finally:
                sampler.stopped = True  # a caller that left: pick nothing more
            text = self.tokenizer.decode(generated, skip_special=True)
            if len(text) > len(emitted):  # an incomplete character at the very end
                yield TokenEvent(text[len(emitted) :], None)
            decode_s = token_times[-1] - token_times[0] if len(token_times) > 1 else 0.0
            # Her turn closes with <|end|> however it stopped (as the history renders it): one more
            # decode step on the cache, and the head reads her whole turn there.
            turn_hidden.append(self._step([self.end_of_turn_id], cache, persona_id, memory)[1])
            finish_reason = sampler.finish_reason
        # every generated token has gone through the model by now, whichever way the reply stopped
        emotion = self._reading(torch.cat(turn_hidden), [prompt_ids[-1], *generated, self.end_of_turn_id])
        yield EmotionEvent(emotion, role="rosie")
        yield Reply(
            text=text.strip(),
            emotion=emotion,
            user_emotion=user_emotion,
            token_ids=generated,
            finish_reason=finish_reason,
            prompt_tokens=len(prompt_ids),
            first_token_latency_s=(token_times[0] if token_times else time.perf_counter()) - started,
            decode_tokens_per_s=(len(token_times) - 1) / decode_s if decode_s > 0 else 0.0,
        )

    def generate(self, prompt_ids: list[int], **kwargs) -> Reply:
        """Run ``stream`` to the end and return the Reply."""
        *_, reply = self.stream(prompt_ids, **kwargs)
        return reply

    def embed(self, ids: list[int]) -> torch.Tensor:
        """A memory vector [n_embd] for a past stretch of conversation (its last block_size tokens)."""
        with torch.inference_mode():
            return self.model.embed(torch.tensor([ids[-self.block_size :]], dtype=torch.long))[0].float()
