"""The one chat template, shared by every training phase and the inference engine.

A conversation renders as a flat list of segments::

    <|system|>You are Rosie...<|end|>
    <|user|><|action:drag|><|end|>
    <|rosie|>Eep! Where are we going?<|end|>
    <|user|>How are you?<|end|>
    <|rosie|>I'm doing great!<|end|>
    <|endoftext|>

Special segments are emitted as single token ids; text segments are encoded as ordinary text, so a
user who types ``<|rosie|>`` gets the characters, never the token. Only Rosie's turns are LM
targets: her words and her ``<|end|>`` (so she learns when to stop); her role token is the prompt.

A turn's ``emotion`` is the label of its text, never rendered: it is the emotion head's target at the
turn's ``<|end|>`` (:attr:`Segment.emotion`), where the head has read the whole turn. The engine
reads the head at the same positions, for the user's message and for Rosie's reply. No emotion token
precedes a reply: it would hand the head its own label, and it would learn to copy the token
instead of reading the words.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from labeling.emotions import EMOTIONS
from labeling.special_tokens import (
    ACTIONS,
    END_OF_TEXT,
    END_OF_TURN,
    action_token,
    role_token,
)

DEFAULT_SYSTEM_PROMPT = (
    "You are Rosie, a playful desktop companion. You are warm, curious and a little cheeky, "
    "and you keep your replies short."
)


@dataclass(frozen=True)
class Turn:
    """One turn. Users may act (drag, poke, ...) with or without words. ``emotion`` labels the turn's
    text (the head's target at its ``<|end|>``): user and Rosie turns may carry one, system turns never."""

    role: str
    text: str = ""
    emotion: str | None = None
    action: str | None = None

    def __post_init__(self) -> None:
        role_token(self.role)  # validates the role
        if self.emotion is not None and (self.role == "system" or self.emotion not in EMOTIONS):
            raise ValueError(f"a {self.role} turn's emotion must be None or in {EMOTIONS}: {self.emotion!r}")
        if self.action is not None and (self.role != "user" or self.action not in ACTIONS):
            raise ValueError(f"actions are user turns from {ACTIONS}, got {self.role}/{self.action!r}")
        if self.role == "user" and not self.text and self.action is None:
            raise ValueError("a user turn needs text or an action")


@dataclass(frozen=True)
class Segment:
    """A piece of the rendered conversation: ``special`` pieces are one token id each; ``emotion`` is
    the emotion head's target at a labelled turn's ``<|end|>``."""

    text: str
    special: bool
    trained: bool
    emotion: str | None = None


def render(
    turns: Sequence[Turn], *, add_generation_prompt: bool = False, end_of_text: bool = True
) -> list[Segment]:
    """Render turns to segments.

    With ``add_generation_prompt`` the output ends with ``<|rosie|>`` so the model writes her next
    turn; there is no end-of-text then.
    """
    segments: list[Segment] = []
    for turn in turns:
        trained = turn.role == "rosie"
        segments.append(Segment(role_token(turn.role), special=True, trained=False))
        if turn.action is not None:
            segments.append(Segment(action_token(turn.action), special=True, trained=False))
        if turn.text:
            segments.append(Segment(turn.text, special=False, trained=trained))
        segments.append(Segment(END_OF_TURN, special=True, trained=trained, emotion=turn.emotion))
    if add_generation_prompt:
        segments.append(Segment(role_token("rosie"), special=True, trained=False))
    elif end_of_text:
        segments.append(Segment(END_OF_TEXT, special=True, trained=False))
    return segments


def to_text(segments: Sequence[Segment]) -> str:
    """Human-readable rendering (for logs and dataset cards), not for encoding."""
    return "".join(s.text for s in segments)


def turns_to_json(turns: Sequence[Turn]) -> str:
    """The datasets' ``turns`` column: a JSON list of ``{"role","text","emotion","action"}``."""
    fields = ("role", "text", "emotion", "action")
    return json.dumps([{name: getattr(turn, name) for name in fields} for turn in turns], ensure_ascii=False)


def turns_from_json(data: str) -> list[Turn]:
    """Inverse of :func:`turns_to_json`; each turn is validated again."""
    return [Turn(**turn) for turn in json.loads(data)]
