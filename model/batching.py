"""Continuous batching of decode steps across conversations.

Each conversation keeps its own KV cache and its own sampling loop, but the forward passes of their
next tokens are shared: a conversation that needs a step queues it, and whichever waiting caller
finds the model free runs every queued step as ONE batched forward (``RosieGPT.decode_step``, then
the LM head over all rows), so the weights are read once per step for all active sequences instead
of once per sequence. Nobody waits for stragglers: a step runs with whoever is queued when the
previous one ends, and a conversation joins or leaves between steps. Prefills (a whole prompt) stay
batch-1 compute-bound passes, run between steps (:meth:`StepBatcher.exclusive`), so the model only
ever runs one forward at a time on the machine's cores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from model.gpt import KVCache

T = TypeVar("T")


@dataclass
class _Step:
    token: int
    cache: KVCache
    persona_id: int
    memory: torch.Tensor | None
    hidden: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    error: BaseException | None = None


class StepBatcher:
    """Runs concurrent one-token steps of different conversations as one forward pass."""

    def __init__(self, model: torch.nn.Module, lm_head: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.model = model
        self.lm_head = lm_head
        self._changed = threading.Condition()
        self._queue: list[_Step] = []
        self._running = False
        self.steps = 0  # forward passes run (for tests and stats)
        self.rows = 0  # sequence-steps they carried

    def step(
        self, token: int, cache: KVCache, persona_id: int, memory: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed ``token`` to ``cache``'s conversation; its final hidden state [n_embd] and next-token
        logits [V], computed in a batch with every other conversation's pending step."""
        request = _Step(token, cache, persona_id, memory)
        with self._changed:
            self._queue.append(request)
            while request.hidden is None and request.error is None:
                if not self._running:
                    batch, self._queue, self._running = self._queue, [], True
                    break
                self._changed.wait()
            else:
                return self._result(request)
        try:
            self._run(batch)
        finally:
            self._release()
        return self._result(request)

    def exclusive(self, work: Callable[[], T]) -> T:
        """Run ``work`` (a prefill) with the model to itself, between two batched steps: concurrent
        forwards would only split the same cores between them (and stall each other's threads)."""
        with self._changed:
            while self._running:
                self._changed.wait()
            self._running = True
        try:
            return work()
        finally:
            self._release()

    def _release(self) -> None:
        with self._changed:
            self._running = False
            self._changed.notify_all()

    @staticmethod
    def _result(request: _Step) -> tuple[torch.Tensor, torch.Tensor]:
        if request.error is not None:
            raise request.error
        return request.hidden, request.logits

    def _run(self, batch: list[_Step]) -> None:
        try:
            with torch.inference_mode():
                hidden = self.model.decode_step(
                    torch.tensor([r.token for r in batch], dtype=torch.long),
                    [r.cache for r in batch],
                    torch.tensor([r.persona_id for r in batch], dtype=torch.long),
                    [r.memory for r in batch],
                )
                logits = self.lm_head(hidden)
        except BaseException as error:  # every caller of this step sees the failure, not a hang
            for request in batch:
                request.error = error
            raise
        for i, request in enumerate(batch):
            request.hidden, request.logits = hidden[i], logits[i]
        self.steps += 1
        self.rows += len(batch)
