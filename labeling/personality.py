"""Build the personality dataset: conversations in Rosie's voice, in the one chat format.

Two kinds of conversation, mixed:

- **templated**: 1-3 exchanges drawn from the authored categories in
  ``labeling/personality_templates.py`` (greetings, helpful answers with computed results,
  reactions to touch/move/drag/drop, idle starters, emotional responses, questions about Rosie),
  slots filled at random from a seeded RNG;
- **restyled**: windows of real chit-chat (Topical-Chat, Persona-Chat, the chatterbot corpus)
  where the other speaker becomes the user and the replies become Rosie's, with a playful prefix
  or emoji chosen by the reply's emotion (Topical-Chat's self-reported sentiment; NRC weak label or
  neutral for the unlabelled sources).

Exact duplicates are removed; the split is the source item's (``labeling.splits``): the source
dialogue for restyled windows (so windows of one real dialogue never straddle splits, and the
emotion dataset puts that dialogue's labelled turns in the same split), the conversation itself for
templated ones.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from labeling import personality_templates as T
from labeling.chat_format import DEFAULT_SYSTEM_PROMPT, Turn, turns_to_json
from labeling.diversity import diversity_report
from labeling.licences import allowed_sources, licence_of
from labeling.mappings import TOPICAL_CHAT, UnknownLabelError
from labeling.sources import (
    Quarantine,
    SourceFiles,
    SourceText,
    read_available,
    read_chatterbot_dialogues,
    read_personachat_dialogues,
    read_topical_chat_dialogues,
)
from labeling.splits import SPLITS, item_key, split_of, text_key
from labeling.weak_labels import LexiconLabeller

PERSONALITY_SCHEMA = pa.schema(
    [
        pa.field("conversation_id", pa.string(), nullable=False),
        pa.field("turns", pa.string(), nullable=False),  # JSON list of labeling.chat_format.Turn
        pa.field("split", pa.string(), nullable=False),
        pa.field("source_item", pa.string(), nullable=False),  # source dialogue, or the conversation itself
        pa.field("source", pa.string(), nullable=False),
        pa.field("licence", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
    ]
)

FOLLOW_UP_RATE = 0.3  # share of template replies that get an extra sentence (T.FOLLOW_UPS)
CATEGORIES: tuple[str, ...] = (
    "greeting",
    "helpful",
    "action",
    "idle",
    "emotional",
    "about_rosie",
    "chitchat",
)


@dataclass(frozen=True)
class PersonalityOptions:
    templated: int = 8_000  # templated conversations to generate (before exact-duplicate removal)
    max_restyled: int = 8_000
    exchanges_per_window: int = 2
    seed: int = 0
    exclude_noncommercial: bool = False


def conversation_text(turns: tuple[Turn, ...] | list[Turn]) -> str:
    """User and Rosie words (and action names), for duplicate and diversity measures."""
    return "\n".join(t.text or f"*{t.action}*" for t in turns if t.role != "system")


@dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]
    categories: tuple[str, ...]  # the kinds of exchange it holds, main one first
    source: str
    source_item: str | None  # the dialogue it was cut from (item_key); None: generated, its own item

    @property
    def category(self) -> str:
        return self.categories[0]

    @property
    def text(self) -> str:
        return conversation_text(self.turns)


@dataclass
class PersonalityBuild:
    tables: dict[str, pa.Table]
    stats: dict = field(default_factory=dict)
    diversity: dict = field(default_factory=dict)
    quarantine: Quarantine = field(default_factory=Quarantine)
    input_sha256: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- filling templates


class Filler:
    """Fills ``{slot}`` templates; emotion-dependent slots (emoji, opener) follow the turn's emotion."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options):
        return self.rng.choice(list(options))

    def fill(self, template: str, emotion: str = "neutral", **slots: object) -> str:
        text = template.format_map(_Slots(self, emotion, slots))
        text = re.sub(r"(?<=\w)\.([~!])", r"\1", text)  # "feet.~" -> "feet~"
        text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)  # "a exam" -> "an exam"
        return re.sub(r" {2,}", " ", text).replace(" ~", "~").strip()

    def reply(self, by_emotion: dict[str, tuple[str, ...]], **slots: object) -> Turn:
        """A Rosie turn from a ``{emotion: templates}`` table; the emotion is the table key picked."""
        emotion = self.pick(by_emotion)
        text = self.fill(self.pick(by_emotion[emotion]), emotion, **slots)
        if self.rng.random() < FOLLOW_UP_RATE:
            text = f"{text} {self.pick(T.FOLLOW_UPS[emotion])}"
        return Turn("rosie", text, emotion=emotion)

    def user(self, template: str, **slots: object) -> Turn:
        return Turn("user", self.fill(template, **slots))


# Slots any template may use; each is drawn only when the template names it.
_SHARED_SLOTS: dict[str, tuple[str, ...]] = {
    "closer": T.CLOSERS,
    "daypart": T.DAYPARTS,
    "task": T.TASKS,
    "fact": T.FUN_FACTS,
    "thing": T.FAVOURITE_THINGS,
    "place": T.PLACES,
    "pet": T.PETS,
    "person": T.PEOPLE,
    "thing2": T.TESTS,
}


class _Slots(dict):
    """Given slots first; missing ones drawn from the fillers (emoji and opener by emotion)."""

    def __init__(self, filler: Filler, emotion: str, slots: dict) -> None:
        super().__init__(slots)
        self.filler, self.emotion = filler, emotion

    def __missing__(self, name: str) -> object:
        by_emotion = {"emoji": T.EMOJI, "opener": T.OPENERS}
        options = by_emotion[name][self.emotion] if name in by_emotion else _SHARED_SLOTS[name]
        return self.filler.pick(options)


def _with_name(f: Filler, text: str) -> str:
    """'Hello!' -> 'Hello, Rosie!' sometimes: users address her in many ways."""
    name = f.pick(T.NAMES)
    if name and text[-1] in "!?." and f.rng.random() < 0.4:
        return f"{text[:-1]}, {name}{text[-1]}"
    return text


# ---------------------------------------------------------------- exchanges, one per category


def greeting(f: Filler) -> list[Turn]:
    emotion = f.pick(("happy", "excited", "affectionate"))
    return [
        Turn("user", _with_name(f, f.pick(T.USER_GREETINGS))),
        Turn("rosie", f.fill(f.pick(T.GREETING_REPLIES), emotion), emotion=emotion),
    ]


def how_are_you(f: Filler) -> list[Turn]:
    return [Turn("user", _with_name(f, f.pick(T.HOW_ARE_YOU))), f.reply(T.HOW_ARE_YOU_REPLIES)]


_OPERATORS: dict[str, Callable[[int, int], int]] = {
    "plus": lambda a, b: a + b,
    "minus": lambda a, b: a - b,
    "times": lambda a, b: a * b,
    "divided by": lambda a, b: a // b,
}


def arithmetic(f: Filler) -> tuple[dict, str, str]:
    op = f.pick(_OPERATORS)
    a, b = f.rng.randint(2, 999), f.rng.randint(2, 99)
    if op == "divided by":
        a = b * f.rng.randint(2, 50)  # exact division only
    symbol = f.pick((op, {"plus": "+", "minus": "-", "times": "x", "divided by": "/"}[op]))
    slots = {"a": a, "b": b, "op": symbol, "result": f"{_OPERATORS[op](a, b):,}"}
    return slots, f.pick(T.ARITHMETIC_QUESTIONS), f.pick(T.ARITHMETIC_ANSWERS)


def conversion(f: Filler) -> tuple[dict, str, str]:
    from_, to, factor, offset = f.pick(T.CONVERSIONS)
    value = f.pick((f.rng.randint(1, 200), round(f.rng.uniform(0.5, 100), 1)))
    result = round(value * factor + offset, 1)
    slots = {"value": value, "from_": from_, "to": to, "result": f"{result:g}"}
    return slots, f.pick(T.CONVERSION_QUESTIONS), f.pick(T.CONVERSION_ANSWERS)


_WORD_RESULTS: dict[str, Callable[[str], object]] = {
    "letters": len,
    "reverse": lambda w: w[::-1],
    "vowels": lambda w: sum(c in "aeiou" for c in w),
    "upper": str.upper,
    "first": lambda w: w[0],
}


def word_task(f: Filler) -> tuple[dict, str, str]:
    task, word = f.pick(T.WORD_TASKS), f.pick(T.WORDS)
    question, answer = T.WORD_TASKS[task]
    return {"word": word, "result": _WORD_RESULTS[task](word)}, question, answer


def sort_list(f: Filler) -> tuple[dict, str, str]:
    items = f.rng.sample(T.LIST_ITEMS, f.rng.randint(3, 6))
    return (
        {"items": ", ".join(items), "result": ", ".join(sorted(items))},
        f.pick(T.SORT_QUESTIONS),
        f.pick(T.SORT_ANSWERS),
    )


def timer(f: Filler) -> tuple[dict, str, str]:
    return (
        {"n": f.rng.choice((1, 2, 3, 5, 10, 15, 20, 25, 30, 45, 60, 90))},
        f.pick(T.TIMER_QUESTIONS),
        f.pick(T.TIMER_ANSWERS),
    )


def tip(f: Filler) -> tuple[dict, str, str]:
    topic = f.pick(T.TIPS)
    first, second = f.rng.sample(T.TIPS[topic], 2)
    slots = {"topic": topic, "tip": first, "Tip": first[0].upper() + first[1:], "tip2": second}
    return slots, f.pick(T.TIP_QUESTIONS), f.pick(T.TIP_ANSWERS)


def define(f: Filler) -> tuple[dict, str, str]:
    term = f.pick(T.GLOSSARY)
    slots = {"term": term, "Term": term[0].upper() + term[1:], "meaning": T.GLOSSARY[term]}
    return slots, f.pick(T.DEFINE_QUESTIONS), f.pick(T.DEFINE_ANSWERS)


HELPERS = (arithmetic, conversion, word_task, sort_list, timer, tip, define)


def helpful(f: Filler) -> list[Turn]:
    slots, question, answer = f.pick(HELPERS)(f)
    emotion = f.pick(("happy", "happy", "neutral", "excited", "curious"))
    return [
        Turn("user", f.fill(question, **slots)),
        Turn("rosie", f.fill(answer, emotion, **slots), emotion=emotion),
    ]


def action(f: Filler) -> list[Turn]:
    name = f.pick(T.ACTION_REACTIONS)
    words = f.pick(T.ACTION_WORDS[name])
    return [Turn("user", words, action=name), f.reply(T.ACTION_REACTIONS[name])]


def idle(f: Filler) -> list[Turn]:
    if f.rng.random() < 0.2:
        return [Turn("user", action="wake"), f.reply(T.WAKE_REPLIES)]
    question, punchline = f.pick(T.JOKES)
    return [Turn("user", action="idle"), f.reply(T.IDLE_STARTERS, joke=f"{question} ... {punchline}")]


def emotional(f: Filler) -> list[Turn]:
    felt = f.pick(T.USER_FEELINGS)
    return [f.user(f.pick(T.USER_FEELINGS[felt])), f.reply(T.FEELING_REPLIES[felt])]


def about_rosie(f: Filler) -> list[Turn]:
    kind = f.pick(T.ABOUT_QUESTIONS)
    thing = f.pick(T.FAVOURITE_THINGS)
    answer = f.pick(T.FAVOURITE_ANSWERS[thing])
    question = f.fill(f.pick(T.ABOUT_QUESTIONS[kind]), thing=thing)
    reply = f.reply(T.ABOUT_REPLIES[kind], answer=answer.capitalize() if kind == "favourite" else answer)
    return [Turn("user", question), reply]


MAIN_EXCHANGES: dict[str, Callable[[Filler], list[Turn]]] = {
    "helpful": helpful,
    "action": action,
    "idle": idle,
    "emotional": emotional,
    "about_rosie": about_rosie,
    "greeting": how_are_you,
}


def closing(f: Filler, category: str) -> list[Turn]:
    if category == "helpful" and f.rng.random() < 0.5:
        return [Turn("user", f.pick(T.THANKS)), f.reply(T.THANKS_REPLIES)]
    if f.rng.random() < 0.15:
        return [Turn("user", f.pick(T.GOODBYES)), f.reply(T.GOODBYE_REPLIES)]
    return []


def templated_conversation(f: Filler) -> Conversation:
    """A greeting (often), one or two main exchanges, sometimes thanks or a goodbye."""
    main = [f.pick(MAIN_EXCHANGES) for _ in range(f.rng.choice((1, 1, 2)))]
    greeted = f.rng.random() < 0.4
    turns = [Turn("system", DEFAULT_SYSTEM_PROMPT), *(greeting(f) if greeted else [])]
    for category in main:
        turns += MAIN_EXCHANGES[category](f)
    turns += closing(f, main[-1])
    categories = main + ["greeting"] * greeted  # the main exchange names the conversation
    return Conversation(tuple(turns), tuple(dict.fromkeys(categories)), "rosie_templates", None)


# ---------------------------------------------------------------- restyled chit-chat

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MAX_REPLY_CHARS = 280


def kept_words(text: str) -> str:
    """What a restyled reply keeps of a real one: at most two sentences, at most 280 characters."""
    return " ".join(_SENTENCE_END.split(text.strip())[:2])[:MAX_REPLY_CHARS].strip()


def restyle(text: str, emotion: str, f: Filler) -> str:
    """A real reply in Rosie's voice: its kept words, a prefix and maybe an emoji by emotion."""
    text = kept_words(text)
    prefix = f.pick(T.RESTYLE_PREFIX[emotion])
    if prefix.endswith(", ") and text[:1].isupper() and not text.startswith(("I ", "I'")):
        text = text[0].lower() + text[1:]  # "Hmm, " + "That's" -> "Hmm, that's"
    else:
        text = text[:1].upper() + text[1:]
    text = f"{prefix}{text}"
    if emotion != "neutral" and f.rng.random() < 0.5:
        text = f"{text.rstrip()} {f.pick(T.EMOJI[emotion])}".rstrip()
    elif text[-1:] not in string.punctuation and f.rng.random() < 0.5:
        text += "~"
    return text


def _windows(dialogue: list[SourceText], size: int) -> Iterator[list[SourceText]]:
    """Non-overlapping windows of ``size`` (user, reply) exchanges; both speakers take the user role."""
    for start in range(0, len(dialogue) - 1, 2 * size):
        window = dialogue[start : start + 2 * size]
        if len(window) >= 2:
            yield window[: len(window) // 2 * 2]


def restyled_conversations(
    files: SourceFiles,
    quarantine: Quarantine,
    allowed: set[str],
    options: PersonalityOptions,
    f: Filler,
    skipped: Counter[str],
) -> Iterator[Conversation]:
    labeller = LexiconLabeller()
    readers = {
        "topical_chat": read_topical_chat_dialogues,
        "personachat": read_personachat_dialogues,
        "chatterbot": read_chatterbot_dialogues,
    }

    def emotion_of(source: str, reply: SourceText) -> str:
        if source == "topical_chat":
            return TOPICAL_CHAT.map(reply.source_label) if reply.source_label else "neutral"
        weak = labeller.label(reply.text)
        return weak.label if weak else "neutral"

    for source, reader in readers.items():
        if source not in allowed:
            continue
        for dialogue in read_available(source, reader, files, quarantine):
            for window in _windows(dialogue, options.exchanges_per_window):
                if any("```" in turn.text for turn in window):
                    skipped[f"{source}:code_block"] += 1  # the corpus' code lost its line breaks
                    continue
                turns = [Turn("system", DEFAULT_SYSTEM_PROMPT)]
                try:
                    for user, reply in zip(window[::2], window[1::2], strict=True):
                        emotion = emotion_of(source, reply)
                        turns += [
                            Turn("user", user.text),
                            Turn("rosie", restyle(reply.text, emotion, f), emotion=emotion),
                        ]
                except UnknownLabelError as exc:
                    quarantine.add(
                        source,
                        window[0].position.split(":")[0],
                        window[0].position,
                        "unknown_label",
                        str(exc),
                    )
                    continue
                # All windows of a dialogue share its item, hence its split.
                yield Conversation(tuple(turns), ("chitchat",), source, item_key(source, window[0].item))


# ---------------------------------------------------------------- the build


def build_personality_dataset(
    data_root: str, options: PersonalityOptions = PersonalityOptions()
) -> PersonalityBuild:
    rng = random.Random(options.seed)
    f = Filler(rng)
    files = SourceFiles(data_root)
    quarantine = Quarantine()
    allowed = allowed_sources(options.exclude_noncommercial)
    generated: Counter[str] = Counter()
    duplicates: Counter[str] = Counter()
    kept: dict[str, Conversation] = {}

    def offer(conversation: Conversation) -> None:
        generated[conversation.source] += 1
        key = text_key(conversation.text)
        if key in kept:
            duplicates[conversation.source] += 1
        else:
            kept[key] = conversation

    skipped: Counter[str] = Counter()
    restyled = list(restyled_conversations(files, quarantine, allowed, options, f, skipped))
    rng.shuffle(restyled)
    for conversation in restyled[: options.max_restyled]:
        offer(conversation)
    for _ in range(options.templated):
        offer(templated_conversation(f))

    rows = []
    for c in kept.values():
        turns = turns_to_json(c.turns)
        conversation_id = hashlib.sha256(turns.encode("utf-8")).hexdigest()[:16]
        source_item = c.source_item or item_key(c.source, conversation_id)
        rows.append(
            {
                "conversation_id": conversation_id,
                "turns": turns,
                "split": split_of(source_item),
                "source_item": source_item,
                "source": c.source,
                "licence": licence_of(c.source),
                "category": c.category,
            }
        )
    tables = {
        split: pa.Table.from_pylist(
            sorted((r for r in rows if r["split"] == split), key=lambda r: r["conversation_id"]),
            schema=PERSONALITY_SCHEMA,
        )
        for split in SPLITS
    }
    conversations = list(kept.values())
    stats = {
        "generated": dict(generated),
        "exact_duplicates_removed": dict(duplicates),
        "kept": dict(Counter(c.source for c in conversations)),
        "categories": dict(Counter(c.category for c in conversations)),
        "conversations_with": dict(Counter(k for c in conversations for k in c.categories)),
        "rosie_emotions": dict(
            Counter(t.emotion for c in conversations for t in c.turns if t.role == "rosie")
        ),
        "actions": dict(Counter(t.action for c in conversations for t in c.turns if t.action)),
        "restyled_available": len(restyled),
        "restyled_skipped": dict(skipped),
        "quarantined": quarantine.counts(),
    }
    items = [(c.text, [t.text for t in c.turns if t.role == "rosie"]) for c in conversations]
    templated = [i for i, c in enumerate(conversations) if c.source == "rosie_templates"]
    restyled = [i for i, c in enumerate(conversations) if c.source != "rosie_templates"]
    diversity = diversity_report(
        items, {"all": range(len(items)), "templated": templated, "restyled": restyled}
    )
    return PersonalityBuild(tables, stats, diversity, quarantine, files.sha256)
