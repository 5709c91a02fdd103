"""Every special token, defined once. The tokenizer, chat format and engine all read them from here.

User text can never produce these ids: the tokenizer escapes any spelled-out token before encoding.
"""

from __future__ import annotations

END_OF_TEXT = "<|endoftext|>"
PAD = "<|pad|>"
END_OF_TURN = "<|end|>"

ROLES: tuple[str, ...] = ("system", "user", "rosie")
ACTIONS: tuple[str, ...] = ("touch", "pet", "poke", "drag", "drop", "pick_up", "idle", "wake")


def role_token(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    return f"<|{role}|>"


def action_token(action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")
    return f"<|action:{action}|>"


ROLE_TOKENS: tuple[str, ...] = tuple(role_token(r) for r in ROLES)
ACTION_TOKENS: tuple[str, ...] = tuple(action_token(a) for a in ACTIONS)

# Order fixes the ids: special tokens take ids 0..N-1 in this order, before any BPE merge.
SPECIAL_TOKENS: tuple[str, ...] = (
    END_OF_TEXT,
    PAD,
    END_OF_TURN,
    *ROLE_TOKENS,
    *ACTION_TOKENS,
)
