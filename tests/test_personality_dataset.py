"""The personality dataset built from the templates and the real chit-chat sample."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from foundation.settings import Settings
from labeling.chat_format import turns_from_json
from labeling.checks import run_checks
from labeling.datasets import evaluation_texts, write_splits
from labeling.diversity import distinct_n, near_duplicate_pairs
from labeling.personality import (
    CATEGORIES,
    Filler,
    PersonalityOptions,
    build_personality_dataset,
    conversation_text,
    restyle,
)
from labeling.splits import SPLITS, split_of, text_key


@pytest.fixture(scope="module")
def build(personality_build):
    return personality_build


def conversations(build, split=None):
    splits = [split] if split else SPLITS
    return [(row, turns_from_json(row["turns"])) for s in splits for row in build.tables[s].to_pylist()]


def test_size_uniqueness_and_emotions(build):
    items = conversations(build)
    assert len(items) >= 10_000
    keys = [text_key(conversation_text(turns)) for _, turns in items]
    assert len(keys) == len(set(keys))  # no exact duplicates
    rosie = [t for _, turns in items for t in turns if t.role == "rosie"]
    assert rosie and all(t.emotion for t in rosie)  # turns_from_json re-validates too
    assert len({t.emotion for t in rosie}) == 10
    assert {row["category"] for row, _ in items} == set(CATEGORIES)
    assert {row["source"] for row, _ in items} == {
        "rosie_templates",
        "topical_chat",
        "personachat",
        "chatterbot",
    }
    assert all(turns[0].role == "system" for _, turns in items)


def test_touch_move_drag_drop_and_idle_use_action_tokens(build):
    actions = Counter(t.action for _, turns in conversations(build) for t in turns if t.action)
    assert set(actions) == {"touch", "pet", "poke", "drag", "drop", "pick_up", "idle", "wake"}
    assert min(actions.values()) >= 100
    drag_replies = [
        turns[i + 1].text
        for _, turns in conversations(build)
        for i, t in enumerate(turns)
        if t.action == "drag"
    ]
    assert any(reply.startswith("Eep!") and "Where are we going?" in reply for reply in drag_replies)


_SUM = re.compile(r"(\d+) (plus|minus|times|divided by|\+|-|x|/) (\d+)\?")
_OPS = {
    "plus": int.__add__,
    "+": int.__add__,
    "minus": int.__sub__,
    "-": int.__sub__,
    "times": int.__mul__,
    "x": int.__mul__,
    "divided by": int.__floordiv__,
    "/": int.__floordiv__,
}


def test_helpful_answers_are_correct(build):
    checked = 0
    for _, turns in conversations(build):
        for question, answer in zip(turns, turns[1:], strict=False):
            match = _SUM.search(question.text) if question.role == "user" else None
            if match and answer.role == "rosie":
                expected = _OPS[match.group(2)](int(match.group(1)), int(match.group(3)))
                assert f"{expected:,}" in answer.text, (question.text, answer.text)
                checked += 1
    assert checked > 50


def test_splits_are_disjoint_and_sized(build):
    keys = {s: {text_key(conversation_text(t)) for _, t in conversations(build, s)} for s in SPLITS}
    assert not (
        keys["train"] & keys["validation"]
        or keys["train"] & keys["test"]
        or keys["validation"] & keys["test"]
    )
    for split in SPLITS:
        rows = [row for row, _ in conversations(build, split)]
        assert all(row["split"] == split == split_of(row["source_item"]) for row in rows)
    assert 0.7 < len(keys["train"]) / sum(map(len, keys.values())) < 0.9
    # the windows of one dialogue share its item (so its split); a templated conversation is its own
    restyled = [row for row, _ in conversations(build) if row["source"] != "rosie_templates"]
    assert len({row["source_item"] for row in restyled}) < len(restyled) / 2


def test_diversity_report(build):
    overall = build.diversity["all"]
    assert overall["distinct_1"] < overall["distinct_2"] < overall["distinct_3"]
    assert overall["distinct_2"] > 0.1
    assert all(kind["near_duplicate_share"] < 0.1 for kind in build.diversity.values())
    assert build.diversity["templated"]["distinct_3"] < build.diversity["restyled"]["distinct_3"]


def test_deterministic_and_noncommercial_switch():
    root = Settings.from_env().data_root
    small = PersonalityOptions(templated=300, max_restyled=100)
    first, again = build_personality_dataset(root, small), build_personality_dataset(root, small)
    assert first.tables["train"].equals(again.tables["train"])
    commercial = build_personality_dataset(
        root, PersonalityOptions(templated=300, max_restyled=2_000, exclude_noncommercial=True)
    )
    sources = {s for split in SPLITS for s in commercial.tables[split].column("source").to_pylist()}
    assert "personachat" not in sources and "topical_chat" in sources


def test_restyle_keeps_words_and_adds_voice():
    f = Filler(random.Random(3))
    for emotion in ("happy", "curious", "sad", "neutral"):
        text = restyle("That is a great movie. I saw it twice. It was long though.", emotion, f)
        assert "great movie" in text and "It was long" not in text  # at most two sentences


def test_distinct_n_and_near_duplicates():
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b c", "a b d"], 2) == 0.75
    base = "the quick brown fox jumps over the lazy dog near the quiet river bank today"
    texts = [base, base + " again", "completely different words live in this other sentence here"]
    assert near_duplicate_pairs(texts) == [(0, 1)]


def test_checks_pass_on_written_dataset_and_evaluation_texts(build, settings):
    write_splits(settings, "personality", build.tables)
    for name, outcome in run_checks(settings, "personality").items():
        assert outcome.passed, (name, outcome.metadata)
    texts = set(evaluation_texts(settings, ("personality",)))
    held_out = [t for s in ("validation", "test") for _, turns in conversations(build, s) for t in turns[1:]]
    assert {t.text for t in held_out if t.text} == texts
