"""The emotion dataset built from the real sample sources."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from foundation.settings import Settings
from labeling.checks import (
    emotion_label_distribution,
    emotion_minimum_size,
    emotion_no_split_leakage,
    run_checks,
)
from labeling.datasets import evaluation_texts, write_splits
from labeling.emotion_dataset import EmotionOptions, build_emotion_dataset, resolve_goemotions
from labeling.emotions import EMOTIONS
from labeling.licences import SOURCES
from labeling.splits import SPLITS, split_of, text_key
from labeling.weak_labels import DEFAULT_THRESHOLD, LexiconLabeller


@pytest.fixture(scope="module")
def build(emotion_build):
    return emotion_build


def rows(build, split=None):
    splits = [split] if split else SPLITS
    return [row for s in splits for row in build.tables[s].to_pylist()]


def test_size_labels_and_every_record_accounted_for(build):
    all_rows = rows(build)
    assert len(all_rows) > 50_000
    assert {r["label"] for r in all_rows} == set(EMOTIONS)
    assert build.stats["accounted"]
    assert build.stats["quarantined"]  # the sample has 3 ED rows without text and a bad chatterbot entry
    assert all(r["licence"] == SOURCES[r["source"]].licence for r in all_rows)


def test_splits_follow_the_source_item_and_are_disjoint(build):
    keys = {s: {text_key(r["text"]) for r in rows(build, s)} for s in SPLITS}
    items = {s: {r["source_item"] for r in rows(build, s)} for s in SPLITS}
    for by_split in (keys, items):
        assert not by_split["train"] & by_split["validation"] and not by_split["train"] & by_split["test"]
        assert not by_split["validation"] & by_split["test"]
    assert all(r["split"] == s == split_of(r["source_item"]) for s in SPLITS for r in rows(build, s))
    assert 0.75 < len(keys["train"]) / sum(map(len, keys.values())) < 0.85
    # a dialogue is one item: every labelled turn of a Topical-Chat conversation shares its split
    topical = [r for r in rows(build) if r["source"] == "topical_chat"]
    assert len({r["source_item"] for r in topical}) < len(topical) / 5
    # the same words said in dialogues of two splits are left out (in whichever split they'd go,
    # the other split would hold them too)
    said_twice = {k: n for k, n in build.stats["filtered"].items() if k.endswith(":said_in_two_splits")}
    assert 0 < sum(said_twice.values()) < 0.01 * len(rows(build))
    assert len({r["example_id"] for r in rows(build)}) == len(rows(build))


def test_gold_and_weak_labels_are_kept_apart(build):
    all_rows = rows(build)
    gold = [r for r in all_rows if r["label_source"] == "gold"]
    weak = [r for r in all_rows if r["label_source"] == "weak"]
    assert gold and weak
    assert {r["source"] for r in gold} == {
        "goemotions",
        "dailydialog",
        "empatheticdialogues",
        "isear",
        "topical_chat",
    }
    assert {r["source"] for r in weak} <= {"reddit", "personachat", "chatterbot", "overheard"}
    assert all(r["confidence"] >= DEFAULT_THRESHOLD and r["source_label"].startswith("nrc:") for r in weak)
    assert all(r["confidence"] == 1.0 for r in gold)
    assert any(r["context"] for r in gold if r["source"] == "dailydialog")


def test_exclude_noncommercial_setting(monkeypatch):
    monkeypatch.setenv("ROSIE_EXCLUDE_NONCOMMERCIAL", "1")
    assert Settings.from_env().exclude_noncommercial
    build = build_emotion_dataset(
        Settings.from_env().data_root, EmotionOptions(exclude_noncommercial=True, include_weak=False)
    )
    sources = {r["source"] for r in rows(build)}
    assert sources == {"goemotions", "topical_chat"}
    assert all(SOURCES[s].commercial for s in sources)
    assert "dailydialog" in build.stats["excluded_sources"]


def test_goemotions_multilabel_resolution():
    assert resolve_goemotions("anger,annoyance|anger") == "angry"
    assert resolve_goemotions("joy,excitement|joy") == "happy"  # mixed originals, Ekman agrees
    assert resolve_goemotions("joy,fear|joy,fear") is None


def test_weak_labeller_needs_no_download_and_respects_negation():
    labeller = LexiconLabeller()
    assert labeller.label("I am so happy and delighted, what a joyful wonderful day").label == "happy"
    assert labeller.label("the table is next to the window") is None
    assert "happy" not in labeller.lemmas("I am not happy")


def test_written_layout_checks_and_evaluation_texts(build, settings):
    with pytest.raises(FileNotFoundError, match="emotion_dataset"):
        evaluation_texts(settings, ("emotion",))  # nothing built yet: decontamination must not pass silently
    write_splits(settings, "emotion", build.tables)
    for split in SPLITS:
        table = pq.read_table(settings.layout.split_path("emotion", split))
        assert table.column_names[:10] == [
            "example_id",
            "text",
            "label",
            "label_source",
            "source",
            "source_label",
            "licence",
            "split",
            "source_item",
            "context",
        ]
    for name, outcome in run_checks(settings, "emotion").items():
        assert outcome.passed, (name, outcome.metadata)
    texts = evaluation_texts(settings, ("emotion",))
    assert len(texts) == build.tables["validation"].num_rows + build.tables["test"].num_rows
    assert set(texts).isdisjoint(r["text"] for r in rows(build, "train"))


def test_checks_fail_on_leaked_small_or_skewed_data(build, settings):
    train = build.tables["train"].slice(0, 300)
    leaked = pa.concat_tables([build.tables["test"].slice(0, 50), train.slice(0, 5)])  # 5 train texts
    write_splits(
        settings,
        "emotion",
        {"train": train, "validation": build.tables["validation"].slice(0, 50), "test": leaked},
    )
    overlap = emotion_no_split_leakage(settings).metadata["overlap"]
    assert overlap["texts"]["train&test"] == 5 and overlap["source_items"]["train&test"] == 5
    assert not emotion_minimum_size(settings).passed
    skewed = train.filter(pc.equal(train.column("label"), "neutral"))
    write_splits(settings, "emotion", {split: skewed for split in SPLITS})
    assert not emotion_label_distribution(settings).passed
