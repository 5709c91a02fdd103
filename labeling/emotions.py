"""Rosie's emotion label set: defined here once, used by datasets, tokenizer, model and engine.

The seven core labels are Ekman's six plus neutral. Three extended labels earn their place because
Rosie's voice needs them and the sources annotate them directly: GoEmotions has ``curiosity``,
``excitement`` and ``love``/``caring``, EmpatheticDialogues has ``excited`` and ``caring``.
"""

from __future__ import annotations

CORE_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprised", "angry", "scared", "disgusted")
EXTENDED_EMOTIONS: tuple[str, ...] = ("curious", "excited", "affectionate")
EMOTIONS: tuple[str, ...] = CORE_EMOTIONS + EXTENDED_EMOTIONS

EMOTION_TO_ID: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}
NUM_EMOTIONS = len(EMOTIONS)
