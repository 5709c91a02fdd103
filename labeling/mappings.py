"""Explicit mappings from every source's emotion labels to Rosie's label set.

Each source lists *every* label it can emit: either mapped to a Rosie label or dropped on purpose
with the reason. A label missing from both is a bug in the source (or a new release) and the
readers quarantine those records instead of guessing.

Where a source label has no direct counterpart, the grouping follows GoEmotions' own Ekman
grouping (Demszky et al. 2020): e.g. embarrassment and remorse count as sadness, nervousness as
fear, disapproval as anger. The three extended labels take the labels that name them directly:
curiosity → curious, excitement/anticipation → excited, love/caring → affectionate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labeling.emotions import EMOTIONS


class UnknownLabelError(KeyError):
    """A source emitted a label its mapping does not list (neither mapped nor dropped)."""


@dataclass(frozen=True)
class LabelMapping:
    """One source's labels: ``mapped`` to a Rosie emotion, or ``dropped`` with the reason why."""

    source: str
    mapped: dict[str, str]
    dropped: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {label: target for label, target in self.mapped.items() if target not in EMOTIONS}
        if bad:
            raise ValueError(f"{self.source}: targets outside the label set: {bad}")
        both = set(self.mapped) & set(self.dropped)
        if both:
            raise ValueError(f"{self.source}: labels both mapped and dropped: {sorted(both)}")

    @property
    def source_labels(self) -> frozenset[str]:
        return frozenset(self.mapped) | frozenset(self.dropped)

    def map(self, label: str) -> str | None:
        """The Rosie emotion for ``label``; None when dropped on purpose; raises for unknown labels."""
        if label in self.mapped:
            return self.mapped[label]
        if label in self.dropped:
            return None
        raise UnknownLabelError(f"{self.source}: label {label!r} is neither mapped nor dropped")


_EKMAN = {
    "anger": "angry",
    "disgust": "disgusted",
    "fear": "scared",
    "joy": "happy",
    "sadness": "sad",
    "surprise": "surprised",
    "neutral": "neutral",
}

GOEMOTIONS_ORIGINAL = LabelMapping(
    "goemotions_original",
    mapped={
        "admiration": "happy",
        "amusement": "happy",
        "anger": "angry",
        "annoyance": "angry",
        "approval": "happy",
        "caring": "affectionate",
        "confusion": "surprised",
        "curiosity": "curious",
        "desire": "excited",
        "disappointment": "sad",
        "disapproval": "angry",
        "disgust": "disgusted",
        "embarrassment": "sad",
        "excitement": "excited",
        "fear": "scared",
        "gratitude": "happy",
        "grief": "sad",
        "joy": "happy",
        "love": "affectionate",
        "nervousness": "scared",
        "optimism": "happy",
        "pride": "happy",
        "realization": "surprised",
        "relief": "happy",
        "remorse": "sad",
        "sadness": "sad",
        "surprise": "surprised",
        "neutral": "neutral",
    },
)

GOEMOTIONS_EKMAN = LabelMapping("goemotions_ekman", mapped=dict(_EKMAN))

# dialogues_emotion.txt codes, see the corpus readme.
DAILYDIALOG = LabelMapping(
    "dailydialog",
    mapped={
        "0": "neutral",  # "no emotion"
        "1": "angry",
        "2": "disgusted",
        "3": "scared",
        "4": "happy",
        "5": "sad",
        "6": "surprised",
    },
)

# The utterance-level column of this EmpatheticDialogues release carries the 32 situation emotions
# plus 8 listener intents and neutral (the EmpatheticIntents annotation).
_ED_INTENT = "a listener intent (what the turn does), not an emotion the speaker feels"
EMPATHETICDIALOGUES = LabelMapping(
    "empatheticdialogues",
    mapped={
        "afraid": "scared",
        "angry": "angry",
        "annoyed": "angry",
        "anticipating": "excited",
        "anxious": "scared",
        "apprehensive": "scared",
        "ashamed": "sad",
        "caring": "affectionate",
        "confident": "happy",
        "content": "happy",
        "devastated": "sad",
        "disappointed": "sad",
        "disgusted": "disgusted",
        "embarrassed": "sad",
        "excited": "excited",
        "faithful": "affectionate",
        "furious": "angry",
        "grateful": "happy",
        "guilty": "sad",
        "hopeful": "happy",
        "impressed": "happy",
        "jealous": "angry",
        "joyful": "happy",
        "lonely": "sad",
        "nostalgic": "affectionate",
        "proud": "happy",
        "sad": "sad",
        "sentimental": "affectionate",
        "surprised": "surprised",
        "terrified": "scared",
        "trusting": "affectionate",
        "neutral": "neutral",
    },
    dropped={
        "prepared": "a readiness state with no consistent feeling (its turns read neutral to proud)",
        "questioning": _ED_INTENT,
        "acknowledging": _ED_INTENT,
        "agreeing": _ED_INTENT,
        "consoling": _ED_INTENT,
        "encouraging": _ED_INTENT,
        "suggesting": _ED_INTENT,
        "sympathizing": _ED_INTENT,
        "wishing": _ED_INTENT,
    },
)

ISEAR = LabelMapping(
    "isear",
    mapped={
        **{k: v for k, v in _EKMAN.items() if k not in ("surprise", "neutral")},
        # Self-conscious emotions: GoEmotions' Ekman grouping puts embarrassment/remorse under sadness.
        "shame": "sad",
        "guilt": "sad",
    },
)

# Self-reported per-turn sentiment of Topical-Chat.
TOPICAL_CHAT = LabelMapping(
    "topical_chat",
    mapped={
        "Curious to dive deeper": "curious",
        "Neutral": "neutral",
        "Happy": "happy",
        "Surprised": "surprised",
        "Sad": "sad",
        "Angry": "angry",
        "Disgusted": "disgusted",
        "Fearful": "scared",
    },
)

# NRC Emotion Lexicon categories (weak labels, see labeling/weak_labels.py).
NRC_LEXICON = LabelMapping(
    "nrc_lexicon",
    mapped={k: v for k, v in _EKMAN.items() if k != "neutral"},
    dropped={
        "anticipation": "tags everyday words (time, long, start); 2-3% precision against GoEmotions",
        "trust": "tags many neutral nouns (abacus, abbot, ...); no reliable Rosie counterpart",
        "positive": "polarity, not an emotion: used only in the confidence score",
        "negative": "polarity, not an emotion: used only in the confidence score",
    },
)

MAPPINGS: dict[str, LabelMapping] = {
    m.source: m
    for m in (
        GOEMOTIONS_ORIGINAL,
        GOEMOTIONS_EKMAN,
        DAILYDIALOG,
        EMPATHETICDIALOGUES,
        ISEAR,
        TOPICAL_CHAT,
        NRC_LEXICON,
    )
}


def dropped_labels() -> dict[str, dict[str, str]]:
    """Every label dropped on purpose, per source, with its reason (for docs and the dataset card)."""
    return {source: dict(m.dropped) for source, m in MAPPINGS.items() if m.dropped}
