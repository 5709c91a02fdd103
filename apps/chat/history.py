"""Conversation history: turns per conversation, persisted in SQLite, windowed to a token budget.

- Each conversation has a persona id, a system prompt (the persona part, always kept in the
  window) and a *session* number: ``reset`` starts a new session, the old turns stay on disk.
- ``window_turns`` drops the oldest turns first until the prompt fits the budget.
- Past stretches of conversation (a finished session, or turns that fell out of the window) are
  stored as memory vectors (``model.embed``); the engine feeds the latest ones to the model's
  memory-attention path, so Rosie keeps a gist of what no longer fits her context.

SQLite (stdlib, one file, WAL) suits a single desktop process and survives restarts; every call
takes a lock, so the API's worker threads share one store safely. The files are the user's alone
(0600, as SQLite gives the WAL and SHM files the database's mode); a file that is not a sound
database is moved aside (``<name>.corrupt-<time>``, logged) and a fresh one started, instead of
failing every request. Reading a conversation that does not exist creates nothing.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labeling.chat_format import DEFAULT_SYSTEM_PROMPT, Turn

log = logging.getLogger(__name__)
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    persona_id INTEGER NOT NULL DEFAULT 0,
    system_prompt TEXT NOT NULL,
    session INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    session INTEGER NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    emotion TEXT,
    action TEXT,
    probabilities TEXT,
    n_tokens INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, session, id);
CREATE TABLE IF NOT EXISTS memories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    last_turn_id INTEGER NOT NULL,
    vector BLOB NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class StoredTurn:
    id: int
    turn: Turn
    n_tokens: int
    probabilities: dict[str, float] | None
    created: float

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "role": self.turn.role,
            "text": self.turn.text,
            "emotion": self.turn.emotion,
            "action": self.turn.action,
            "probabilities": self.probabilities,
            "created": self.created,
        }


@dataclass(frozen=True)
class Conversation:
    id: str
    persona_id: int
    system_prompt: str
    session: int

    @property
    def system_turn(self) -> Turn:
        return Turn("system", self.system_prompt)


def window_turns(
    turns: Sequence[StoredTurn], budget: int, fixed_tokens: int
) -> tuple[list[StoredTurn], list[StoredTurn]]:
    """Split ``turns`` into (dropped, kept): the newest turns whose tokens plus ``fixed_tokens``
    (system part and generation prompt) fit ``budget``. Oldest turns go first; the newest turn is
    always kept (the caller checks the final prompt fits)."""
    total = fixed_tokens
    first_kept = len(turns)
    for i in range(len(turns) - 1, -1, -1):
        if i < len(turns) - 1 and total + turns[i].n_tokens > budget:
            break
        total += turns[i].n_tokens
        first_kept = i
    return list(turns[:first_kept]), list(turns[first_kept:])


class ConversationStore:
    """Turns and memory vectors of every conversation, in one SQLite file."""

    def __init__(self, path: str | Path, count_tokens: Callable[[Turn], int]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.count_tokens = count_tokens
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self._move_aside()
            log.error(
                "%s is not a sound SQLite database (%s): moved aside to %s, starting an empty history",
                self.path, exc, aside,
            )
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        for suffix in ("", *SQLITE_SIDE_FILES) if str(self.path) != ":memory:" else ():
            path = self.path.with_name(self.path.name + suffix)  # the user's conversations: theirs alone
            if suffix == "":
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            if path.exists():
                path.chmod(0o600)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(verdict)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", *SQLITE_SIDE_FILES):
            path = self.path.with_name(self.path.name + suffix)
            if path.exists():
                os.replace(path, aside.with_name(aside.name + suffix))
        return aside

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def conversation(self, conversation_id: str) -> Conversation:
        """The conversation's settings; the default persona for one that does not exist yet (which
        stays not existing: only writes create a conversation)."""
        with self._lock:
            row = self._db.execute(
                "SELECT persona_id, system_prompt, session FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            return Conversation(conversation_id, 0, DEFAULT_SYSTEM_PROMPT, 0)
        return Conversation(conversation_id, row[0], row[1], row[2])

    def _create(self, conversation_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO conversations (id, system_prompt, created) VALUES (?, ?, ?)",
                (conversation_id, DEFAULT_SYSTEM_PROMPT, time.time()),
            )

    def set_persona(self, conversation_id: str, *, persona_id: int, system_prompt: str) -> Conversation:
        self._create(conversation_id)
        with self._lock:
            self._db.execute(
                "UPDATE conversations SET persona_id = ?, system_prompt = ? WHERE id = ?",
                (persona_id, system_prompt, conversation_id),
            )
        return self.conversation(conversation_id)

    def conversation_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM conversations ORDER BY created")]

    def append(
        self, conversation_id: str, turn: Turn, probabilities: dict[str, float] | None = None
    ) -> StoredTurn:
        """Record a turn in the conversation's current session."""
        self._create(conversation_id)
        session = self.conversation(conversation_id).session
        n_tokens = self.count_tokens(turn)
        created = time.time()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO turns (conversation_id, session, role, text, emotion, action, probabilities,"
                " n_tokens, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    session,
                    turn.role,
                    turn.text,
                    turn.emotion,
                    turn.action,
                    json.dumps(probabilities) if probabilities is not None else None,
                    n_tokens,
                    created,
                ),
            )
        return StoredTurn(int(cursor.lastrowid), turn, n_tokens, probabilities, created)

    def turns(self, conversation_id: str, session: int | None = None) -> list[StoredTurn]:
        """Turns of one session (default: the current one), oldest first."""
        if session is None:
            session = self.conversation(conversation_id).session
        with self._lock:
            rows = self._db.execute(
                "SELECT id, role, text, emotion, action, probabilities, n_tokens, created FROM turns"
                " WHERE conversation_id = ? AND session = ? ORDER BY id",
                (conversation_id, session),
            ).fetchall()
        return [
            StoredTurn(
                row[0],
                Turn(row[1], row[2], emotion=row[3], action=row[4]),
                row[6],
                json.loads(row[5]) if row[5] else None,
                row[7],
            )
            for row in rows
        ]

    def new_session(self, conversation_id: str) -> int:
        """Start a fresh session (the old turns stay on disk); returns the new session number."""
        self._create(conversation_id)
        session = self.conversation(conversation_id).session + 1
        with self._lock:
            self._db.execute("UPDATE conversations SET session = ? WHERE id = ?", (session, conversation_id))
        return session

    def add_memory(self, conversation_id: str, vector: np.ndarray, last_turn_id: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO memories (conversation_id, last_turn_id, vector, created) VALUES (?, ?, ?, ?)",
                (conversation_id, last_turn_id, np.asarray(vector, dtype=np.float32).tobytes(), time.time()),
            )

    def last_memorized_turn_id(self, conversation_id: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(MAX(last_turn_id), 0) FROM memories WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
        return int(row[0])

    def memories(self, conversation_id: str, limit: int, dim: int) -> np.ndarray:
        """The latest ``limit`` memory vectors of width ``dim``, oldest first: array [M, dim]."""
        with self._lock:
            rows = self._db.execute(
                "SELECT vector FROM memories WHERE conversation_id = ? AND length(vector) = ?"
                " ORDER BY id DESC LIMIT ?",
                (conversation_id, dim * 4, limit),
            ).fetchall()
        vectors = [np.frombuffer(r[0], dtype=np.float32) for r in reversed(rows)]
        return np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
