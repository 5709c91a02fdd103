"""Splits across the two datasets, on the real sample: no source dialogue, no exchange crosses them."""

from __future__ import annotations

import pyarrow as pa

from labeling.chat_format import DEFAULT_SYSTEM_PROMPT, Turn, turns_to_json
from labeling.emotion_dataset import EmotionBuild
from labeling.leaks import split_leaks
from labeling.personality import PersonalityBuild
from labeling.splits import SPLITS, item_key


def test_no_source_item_or_exchange_crosses_splits_across_the_datasets(
    emotion_build: EmotionBuild, personality_build: PersonalityBuild
):
    emotion, personality = emotion_build.tables, personality_build.tables
    shared = {item for s in SPLITS for item in emotion[s].column("source_item").to_pylist()} & {
        item for s in SPLITS for item in personality[s].column("source_item").to_pylist()
    }
    assert len(shared) > 500, "both datasets read the same Topical-Chat (and chit-chat) dialogues"
    leaks = split_leaks(emotion, personality)
    assert leaks["source_items_in_two_splits"] == 0
    assert leaks["emotion_texts_in_two_splits"] == 0
    for split in ("validation", "test"):
        emotion_leaks = leaks["emotion_eval_rows_trained_in_personality"][split]
        personality_leaks = leaks["personality_eval_replies_trained_in_emotion"][split]
        assert emotion_leaks["gold_rows"] == 0 and emotion_leaks["of"] > 5_000
        assert personality_leaks["exchanges"] == 0 and personality_leaks["of"] > 1_000


def test_the_leak_measure_sees_an_exchange_trained_in_one_dataset_and_scored_in_the_other():
    item = item_key("topical_chat", "t_1")
    scored = {
        "context": "Do you like football?",
        "text": "I love it. The Giants are my team! Do you watch?",  # restyling keeps two sentences
        "label_source": "gold",
        "source_item": item,
    }
    trained = {
        "source_item": item,
        "turns": turns_to_json(
            [
                Turn("system", DEFAULT_SYSTEM_PROMPT),
                Turn("user", "Do you like football?"),
                Turn("rosie", "Ooh, i love it. The Giants are my team! 🤩", emotion="excited"),
            ]
        ),
    }
    emotion = {split: pa.Table.from_pylist([scored] if split == "test" else [], SCORED) for split in SPLITS}
    personality = {
        split: pa.Table.from_pylist([trained] if split == "train" else [], TRAINED) for split in SPLITS
    }
    leaks = split_leaks(emotion, personality)
    assert leaks["emotion_eval_rows_trained_in_personality"]["test"] == {"gold_rows": 1, "of": 1}
    assert leaks["source_items_in_two_splits"] == 1
    # a different reply after the same question is no leak
    other_reply = {**trained, "turns": trained["turns"].replace("Giants", "Jets")}
    personality["train"] = pa.Table.from_pylist([other_reply])
    leaks = split_leaks(emotion, personality)
    assert leaks["emotion_eval_rows_trained_in_personality"]["test"]["gold_rows"] == 0


SCORED = pa.schema([(name, pa.string()) for name in ("context", "text", "label_source", "source_item")])
TRAINED = pa.schema([(name, pa.string()) for name in ("source_item", "turns")])
