"""Conversations served by the engine: the one code path behind the CLI, the API and the Discord bot.

For each user turn (words or an action) it windows the history to the prompt budget, feeds the
memory vectors of older talk to the model, takes a generation slot, streams the reply and records
both turns, each with the emotion the head read at its end. ``astream`` runs the same thing on a
worker thread for asyncio callers; when the caller
stops listening (a client disconnects) the generation is cancelled and its slot freed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from apps.chat.history import Conversation, ConversationStore, StoredTurn, window_turns
from apps.chat.slots import GenerationSlots
from labeling.chat_format import Turn
from model.engine import EmotionEvent, EmotionReading, Engine, GenerationEvent, Reply, TokenEvent
from model.sampling import SamplingConfig

_DONE = object()
_PENDING_ID = 2**62  # a not-yet-recorded turn: newer than every stored one, never memorized


@dataclass(frozen=True)
class Prompt:
    ids: list[int]
    persona_id: int
    memory: torch.Tensor | None
    kept_turns: int
    dropped_turns: int


class ChatService:
    """Engine + history store + generation slots."""

    def __init__(
        self,
        engine: Engine,
        store: ConversationStore,
        *,
        slots: GenerationSlots | None = None,
        max_memories: int = 8,
        memory_chunk_turns: int = 4,
    ) -> None:
        self.engine = engine
        self.store = store
        self.slots = slots or GenerationSlots()
        self.max_memories = max_memories
        self._conversation_locks: dict[str, tuple[threading.Lock, int]] = {}  # lock, requests using it
        self._locks_guard = threading.Lock()
        # Embedding dropped turns costs a forward pass, so they are memorized in chunks.
        self.memory_chunk_turns = memory_chunk_turns

    @classmethod
    def open(cls, engine: Engine, db_path: str | Path, **kwargs) -> ChatService:
        """A service whose history lives in ``db_path`` (SQLite, created if missing)."""
        tokenizer = engine.tokenizer

        def count_tokens(turn: Turn) -> int:
            # A turn's tokens: its rendering minus the trailing <|rosie|> generation prompt.
            return len(tokenizer.encode_chat([turn], add_generation_prompt=True).ids) - 1

        return cls(engine, ConversationStore(db_path, count_tokens), **kwargs)

    # -- prompts ----------------------------------------------------------------------------

    def _memory(self, conversation_id: str) -> torch.Tensor | None:
        if not getattr(self.engine.config, "memory", False):
            return None
        vectors = self.store.memories(conversation_id, self.max_memories, int(self.engine.config.n_embd))
        return torch.from_numpy(vectors.copy())[None] if len(vectors) else None

    def _memorize(self, conversation_id: str, turns: list[StoredTurn]) -> None:
        """Store one memory vector for a stretch of past turns."""
        if turns:
            ids = self.engine.tokenizer.encode_chat([t.turn for t in turns]).ids
            self.store.add_memory(conversation_id, self.engine.embed(list(ids)).numpy(), turns[-1].id)

    def build_prompt(
        self, conversation: Conversation, turns: list[StoredTurn], sampling: SamplingConfig
    ) -> Prompt:
        """Window ``turns`` (oldest dropped first, system part kept) and add memory vectors."""
        budget = self.engine.prompt_budget(sampling)
        fixed = self.store.count_tokens(conversation.system_turn) + 1  # + <|rosie|>
        dropped, kept = window_turns(turns, budget, fixed)
        unmemorized = [t for t in dropped if t.id > self.store.last_memorized_turn_id(conversation.id)]
        if len(unmemorized) >= self.memory_chunk_turns:
            self._memorize(conversation.id, unmemorized)
        ids = self.engine.encode_prompt([conversation.system_turn] + [t.turn for t in kept])
        return Prompt(ids, conversation.persona_id, self._memory(conversation.id), len(kept), len(dropped))

    def prompt_with(self, conversation_id: str, user_turn: Turn, sampling: SamplingConfig) -> Prompt:
        """The prompt for the conversation so far plus ``user_turn`` (not recorded yet)."""
        pending = StoredTurn(_PENDING_ID, user_turn, self.store.count_tokens(user_turn), None, 0.0)
        turns = [*self.store.turns(conversation_id), pending]
        return self.build_prompt(self.store.conversation(conversation_id), turns, sampling)

    # -- replies ----------------------------------------------------------------------------

    def stream_reply(
        self,
        conversation_id: str,
        user_turn: Turn,
        sampling: SamplingConfig | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[GenerationEvent]:
        """Record ``user_turn``, stream Rosie's reply, record it. Raises PromptTooLongError before
        recording anything when the message cannot fit, BusyError when no slot is free."""
        sampling = sampling or self.engine.default_sampling
        with self._turn_of(conversation_id, cancel):
            if cancel is not None and cancel.is_set():
                return  # the client left while an earlier reply in this conversation ran
            yield from self._stream_reply(conversation_id, user_turn, sampling, cancel)

    def _stream_reply(
        self, conversation_id: str, user_turn: Turn, sampling: SamplingConfig, cancel: threading.Event | None
    ) -> Iterator[GenerationEvent]:
        prompt = self.prompt_with(conversation_id, user_turn, sampling)
        self.engine.check_fits(prompt.ids, sampling.max_new_tokens)
        if not self.slots.acquire(cancel):
            return  # the client left while waiting for a slot
        try:
            if cancel is not None and cancel.is_set():
                return  # it left just as the slot came
            for event in self.engine.stream(
                prompt.ids,
                sampling=sampling,
                persona_id=prompt.persona_id,
                memory=prompt.memory,
                cancel=cancel,
            ):
                # Each turn is recorded before the caller sees what follows it: a client that reads
                # the history as soon as its response ends must find her turn there.
                if isinstance(event, EmotionEvent) and event.role == "user":
                    labelled = replace(user_turn, emotion=event.emotion.label)
                    self.store.append(conversation_id, labelled, event.emotion.probabilities)
                elif isinstance(event, Reply):
                    self._record_reply(conversation_id, event)
                yield event
        finally:
            self.slots.release()

    @contextlib.contextmanager
    def _turn_of(self, conversation_id: str, cancel: threading.Event | None) -> Iterator[None]:
        """One exchange at a time per conversation: a second message waits for the first reply, so
        the history alternates user, rosie, user, rosie (and its prompt includes that reply)."""
        with self._locks_guard:
            lock, users = self._conversation_locks.get(conversation_id, (threading.Lock(), 0))
            self._conversation_locks[conversation_id] = (lock, users + 1)
        acquired = False
        try:
            while not (acquired := lock.acquire(timeout=0.05)):
                if cancel is not None and cancel.is_set():
                    break  # the caller sees the cancel and records nothing
            yield
        finally:
            if acquired:
                lock.release()
            with self._locks_guard:
                lock, users = self._conversation_locks[conversation_id]
                if users == 1:
                    del self._conversation_locks[conversation_id]
                else:
                    self._conversation_locks[conversation_id] = (lock, users - 1)

    def _record_reply(self, conversation_id: str, reply: Reply) -> None:
        # Her turn is recorded as produced (even blank), so the history keeps alternating; only a
        # reply cancelled before its first token leaves no trace.
        if reply.token_ids or reply.finish_reason != "cancelled":
            rosie_turn = Turn("rosie", reply.text, emotion=reply.emotion.label)
            self.store.append(conversation_id, rosie_turn, reply.emotion.probabilities)

    def reply(self, conversation_id: str, user_turn: Turn, sampling: SamplingConfig | None = None) -> Reply:
        """The whole reply at once."""
        *_, reply = self.stream_reply(conversation_id, user_turn, sampling)
        return reply

    async def astream(
        self,
        conversation_id: str,
        user_turn: Turn,
        sampling: SamplingConfig | None = None,
        stop: asyncio.Event | None = None,
    ) -> AsyncIterator[GenerationEvent]:
        """``stream_reply`` on a worker thread. Closing this iterator early, or setting ``stop``,
        cancels the generation; ``stop`` works while it waits for a slot or its next token."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone (server shutting down)
                cancel.set()

        def worker() -> None:
            try:
                for event in self.stream_reply(conversation_id, user_turn, sampling, cancel):
                    put(event)
            except Exception as exc:  # handed to the caller, who maps it to an HTTP status
                put(exc)
            finally:
                put(_DONE)

        threading.Thread(target=worker, name=f"generate-{conversation_id}", daemon=True).start()
        stopped = asyncio.ensure_future((stop or asyncio.Event()).wait())
        try:
            while True:
                item = asyncio.ensure_future(queue.get())
                await asyncio.wait({item, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not item.done() or item.result() is _DONE:
                    item.cancel()
                    return
                if isinstance(item.result(), Exception):
                    raise item.result()
                yield item.result()  # type: ignore[misc]
        finally:
            stopped.cancel()
            cancel.set()

    async def areply(
        self, conversation_id: str, user_turn: Turn, sampling: SamplingConfig | None = None
    ) -> Reply:
        async for event in self.astream(conversation_id, user_turn, sampling):
            if isinstance(event, Reply):
                return event
        raise RuntimeError("generation ended without a reply")

    # -- history and emotion ----------------------------------------------------------------

    def preview_emotion(self, conversation_id: str, user_turn: Turn) -> EmotionReading:
        """The emotion of ``user_turn`` said now in the conversation, without replying or recording:
        the reading a reply to it reports as ``user_emotion``."""
        sampling = self.engine.default_sampling.with_overrides(max_new_tokens=1, min_new_tokens=0)
        prompt = self.prompt_with(conversation_id, user_turn, sampling)
        ids = prompt.ids[:-1]  # up to the user's <|end|>, without the <|rosie|> generation prompt
        self.slots.acquire()  # a forward pass like any generation: counted against the same slots
        try:
            return self.engine.read_emotion(ids, persona_id=prompt.persona_id, memory=prompt.memory)
        finally:
            self.slots.release()

    def last_emotion(self, conversation_id: str) -> StoredTurn | None:
        """Rosie's latest turn in the current session, if any."""
        rosie_turns = [t for t in self.store.turns(conversation_id) if t.turn.role == "rosie"]
        return rosie_turns[-1] if rosie_turns else None

    def history(self, conversation_id: str) -> list[StoredTurn]:
        return self.store.turns(conversation_id)

    def reset(self, conversation_id: str) -> int:
        """Start a new session; the finished one becomes a memory vector. Returns the new session."""
        unmemorized_after = self.store.last_memorized_turn_id(conversation_id)
        self._memorize(
            conversation_id, [t for t in self.store.turns(conversation_id) if t.id > unmemorized_after]
        )
        return self.store.new_session(conversation_id)


def event_to_dict(event: GenerationEvent) -> dict[str, object]:
    """The wire form of a generation event (WebSocket frames, `rosie say --json`)."""
    if isinstance(event, EmotionEvent):
        return {"type": "emotion", "role": event.role, **event.emotion.to_dict()}
    if isinstance(event, TokenEvent):
        return {"type": "token", "text": event.text}
    return {"type": "done", **event.to_dict()}
