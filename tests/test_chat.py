"""The conversation layer (apps.chat): history, windowing, memory vectors and generation slots,
on a tiny untrained model built in a temporary folder."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from apps.chat.history import ConversationStore, StoredTurn, window_turns
from apps.chat.service import ChatService
from apps.chat.slots import BusyError, GenerationSlots
from labeling.chat_format import Turn
from labeling.emotions import EMOTIONS
from model.engine import Engine
from model.sampling import SamplingConfig
from tests.test_engine_support import tiny_engine

GREEDY = SamplingConfig(temperature=0.0, max_new_tokens=12, min_new_tokens=0)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Engine:
    return tiny_engine(tmp_path_factory.mktemp("model"), data_root)


@pytest.fixture
def service(engine: Engine, tmp_path: Path) -> ChatService:
    return ChatService.open(engine, tmp_path / "history.sqlite", memory_chunk_turns=1)


# -- generation slots -------------------------------------------------------------------------


def test_generation_slots_bound_active_and_waiting():
    slots = GenerationSlots(max_active=1, max_waiting=1)
    slots.acquire()
    waiter = threading.Thread(target=slots.acquire)
    waiter.start()
    deadline = time.time() + 5
    while slots.waiting != 1 and time.time() < deadline:
        time.sleep(0.01)
    with pytest.raises(BusyError):
        slots.acquire()
    slots.release()
    waiter.join(5)
    assert (slots.active, slots.waiting) == (1, 0)
    slots.release()
    assert slots.active == 0


def test_a_cancelled_request_leaves_the_waiting_line_at_once():
    slots = GenerationSlots(max_active=1, max_waiting=1)
    slots.acquire()
    cancel = threading.Event()
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(slots.acquire(cancel)))
    waiter.start()
    deadline = time.time() + 5
    while slots.waiting != 1 and time.time() < deadline:
        time.sleep(0.01)
    cancel.set()
    waiter.join(5)
    assert outcome == [False] and (slots.active, slots.waiting) == (1, 0)  # its place is free again


# -- history ----------------------------------------------------------------------------------


def stored(i: int, n_tokens: int) -> StoredTurn:
    return StoredTurn(i, Turn("user", f"turn {i}"), n_tokens, None, 0.0)


def test_window_drops_oldest_first_and_keeps_the_newest():
    turns = [stored(i, 10) for i in range(1, 6)]
    dropped, kept = window_turns(turns, budget=44, fixed_tokens=15)
    assert [t.id for t in dropped] == [1, 2, 3] and [t.id for t in kept] == [4, 5]
    dropped, kept = window_turns(turns, budget=1000, fixed_tokens=15)
    assert dropped == [] and len(kept) == 5
    dropped, kept = window_turns(turns, budget=5, fixed_tokens=15)
    assert [t.id for t in kept] == [5]  # always the newest; the engine then refuses if it cannot fit


def test_history_persists_across_restarts(engine: Engine, tmp_path: Path):
    db = tmp_path / "history.sqlite"
    first = ChatService.open(engine, db)
    first.reply("desk", Turn("user", "Remember me?"), GREEDY)
    first.reply("desk", Turn("user", action="pet"), GREEDY)
    first.store.close()
    reopened = ChatService.open(engine, db)
    turns = [t.turn for t in reopened.history("desk")]
    assert [(t.role, t.action) for t in turns] == [
        ("user", None),
        ("rosie", None),
        ("user", "pet"),
        ("rosie", None),
    ]
    assert turns[0].text == "Remember me?" and all(t.emotion in EMOTIONS for t in turns[1::2])
    assert reopened.last_emotion("desk").probabilities is not None
    assert reopened.store.conversation_ids() == ["desk"]


def test_window_keeps_system_prompt_and_memorizes_dropped_turns(service: ChatService):
    sampling = GREEDY.with_overrides(max_new_tokens=8)
    for i in range(8):
        service.reply(
            "long",
            Turn("user", f"This is a fairly long message number {i} about my cat and my day"),
            sampling,
        )
    conversation = service.store.conversation("long")
    prompt_ = service.build_prompt(conversation, service.history("long"), sampling)
    assert prompt_.dropped_turns > 0 and prompt_.kept_turns > 0
    assert len(prompt_.ids) <= service.engine.prompt_budget(sampling)
    system_ids = service.engine.tokenizer.encode_chat(
        [conversation.system_turn], add_generation_prompt=True
    ).ids[:-1]
    assert prompt_.ids[: len(system_ids)] == system_ids  # the persona part is always there
    assert prompt_.memory is not None and prompt_.memory.shape[0] == 1
    assert prompt_.memory.shape[2] == service.engine.config.n_embd


def test_memory_vectors_reach_the_model(service: ChatService):
    """With the memory gate opened, remembered conversations change the next reply's logits."""
    service.reply("mem", Turn("user", "My cat is called Biscuit"), GREEDY)
    service.reset("mem")
    conversation = service.store.conversation("mem")
    assert service.history("mem") == [] and conversation.session == 1
    pending = [stored(10**9, 5)]
    with_memory = service.build_prompt(conversation, pending, GREEDY)
    assert with_memory.memory is not None and with_memory.memory.shape[1] == 1
    model = service.engine.model
    gates = [b.memory_attn.gate for b in model.blocks if b.memory_attn is not None]
    with torch.no_grad():
        for gate in gates:
            gate.fill_(1.0)
        try:
            a = model(torch.tensor([with_memory.ids]), memory=with_memory.memory).logits
            b = model(torch.tensor([with_memory.ids]), memory=None).logits
        finally:
            for gate in gates:
                gate.zero_()
    assert not torch.allclose(a, b)


def test_conversation_store_counts_tokens_and_sessions(tmp_path: Path):
    store = ConversationStore(tmp_path / "h.sqlite", count_tokens=lambda turn: len(turn.text))
    store.append("a", Turn("user", "hello"))
    assert store.turns("a")[0].n_tokens == 5
    assert store.new_session("a") == 1 and store.turns("a") == [] and len(store.turns("a", session=0)) == 1
    updated = store.set_persona("a", persona_id=2, system_prompt="You are Rosie's twin.")
    assert (updated.persona_id, updated.system_prompt) == (2, "You are Rosie's twin.")
