"""Damaged and missing source files: quarantined with a reason and counted, never a crash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from foundation.settings import Settings
from labeling.build import write_emotion_dataset
from labeling.emotion_dataset import build_emotion_dataset
from labeling.mappings import GOEMOTIONS_ORIGINAL
from labeling.personality import PersonalityOptions, build_personality_dataset

# labels.txt order (the mapping lists them in it): ids in the .tsv files index these lists
GOEMOTIONS_LABELS = list(GOEMOTIONS_ORIGINAL.mapped)
EKMAN_LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def write(root: Path, rel: str, text: str, encoding: str = "utf-8") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)


@pytest.fixture
def damaged_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write(root, "emotion/goemotions/original/labels.txt", "\n".join(GOEMOTIONS_LABELS))
    write(root, "emotion/goemotions/ekman/labels.txt", "\n".join(EKMAN_LABELS))
    write(
        root,
        "emotion/goemotions/original/train.tsv",
        "I love this so much\t18\tid1\nno tabs on this line\nwhat label is this one\t99\tid2\n"
        "This is the best day ever\t17\tid3\n",
    )
    write(root, "emotion/goemotions/ekman/train.tsv", "I love this so much\t3\tid1\n")
    write(root, "emotion/goemotions/original/dev.tsv", "That was really scary stuff\t14\tid4\n")
    write(root, "emotion/goemotions/ekman/dev.tsv", "")
    write(
        root,
        "emotion/dailydialog/validation/dialogues_validation.txt",
        "Hi there , how are you ? __eou__ I am great , thanks ! __eou__\nOnly one utterance here . __eou__\n",
    )
    write(root, "emotion/dailydialog/validation/dialogues_emotion_validation.txt", "0 4\n0 1\n")
    write(
        root,
        "emotion/empatheticdialogues/valid.csv",
        ",dialogue_id,turns,text,emotion,dialogue_emotion\n0,1,1,i am so bored today,bored,bored\n"
        "1,1,2,that sounds really dull indeed,sad,bored\n2,1,3,,sad,bored\n",
    )
    header = "|".join(["ID"] * 36 + ["Field1", "Field3", "Field2", "MYKEY", "SIT", "STATE", ""])
    good = "|".join(["1"] * 36 + ["joy", "4", "3", "k", "When I passed my exam with top marks.", "1", ""])
    write(root, "emotion/isear/isear.csv", f"{header}\n{good}\n1|2|3\n", encoding="latin-1")
    thread = [
        {"name": "t3_a", "title": "We are back online after the outage"},
        {
            "name": "t1_b",
            "parent_id": "t3_a",
            "body": "I am so happy and delighted, what a joyful wonderful day",
        },
    ]
    write(
        root,
        "reddit/reddit_announcements_n49rw_thread.jsonl",
        "\n".join(map(json.dumps, thread)) + "\n{broken\n",
    )
    pair = {"question": "What a day", "answer": "My dog died, I miss him, so much grief and sorrow and tears"}
    write(root, "reddit/leahrnh_reddit_pairs_2015-03-21/news_2015-03-21.json", "[," + json.dumps(pair) + "]")
    write(root, "reddit/leahrnh_reddit_pairs_2015-03-21/broken_2015-03-21.json", '[{"question": ')
    turns = [
        {"message": "Do you like football?", "agent": "agent_1", "sentiment": "Curious to dive deeper"},
        {"message": "I love it, especially the playoffs!", "agent": "agent_2", "sentiment": "Happy"},
        {"message": "Me too, what a season it was.", "agent": "agent_1", "sentiment": "Bored"},
        {"message": "Yes, the final was amazing to watch.", "agent": "agent_2", "sentiment": "Bored"},
    ]
    topical = {"t_1": {"content": turns[:2]}, "t_2": {"content": turns[2:]}, "t_3": {"no": "content"}}
    write(root, "chitchat/topical_chat/valid_freq.json", json.dumps(topical))  # valid_rare.json is missing
    return root


def test_damaged_records_are_quarantined_and_counted(damaged_root):
    build = build_emotion_dataset(str(damaged_root))
    reasons = {(r["source"], r["reason"]) for r in build.quarantine.records}
    assert {
        ("goemotions", "malformed_line"),
        ("goemotions", "bad_label_id"),
        ("dailydialog", "label_count_mismatch"),
        ("empatheticdialogues", "unknown_label"),
        ("empatheticdialogues", "missing_text_or_label"),
        ("isear", "too_few_fields"),
        ("reddit", "bad_json"),
        ("topical_chat", "missing_file"),
        ("topical_chat", "unknown_label"),
        ("topical_chat", "no_content"),
        ("chatterbot", "missing_file"),
    } <= reasons
    assert build.stats["accounted"]
    texts = {row["text"]: row for split in build.tables.values() for row in split.to_pylist()}
    assert texts["I love this so much"]["label"] == "affectionate"
    assert texts["I am great, thanks!"]["label"] == "happy" and texts["I am great, thanks!"]["context"]
    assert texts["When I passed my exam with top marks."]["label"] == "happy"
    weak = {t: r for t, r in texts.items() if r["label_source"] == "weak"}
    assert weak and all(r["source"] == "reddit" for r in weak.values())  # the "[," file was read
    assert "My dog died, I miss him, so much grief and sorrow and tears" in weak


def test_empty_data_root_fails_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="ROSIE_DATA_ROOT"):
        build_emotion_dataset(str(tmp_path))
    # the personality dataset still builds from its templates alone, recording the missing sources
    build = build_personality_dataset(str(tmp_path), PersonalityOptions(templated=50))
    assert sum(t.num_rows for t in build.tables.values()) > 0
    assert {r["reason"] for r in build.quarantine.records} == {"missing_file"}


def test_personality_quarantines_unknown_sentiment_and_keeps_the_rest(damaged_root):
    build = build_personality_dataset(str(damaged_root), PersonalityOptions(templated=50))
    reasons = {(r["source"], r["reason"]) for r in build.quarantine.records}
    assert {
        ("topical_chat", "unknown_label"),
        ("topical_chat", "missing_file"),
        ("personachat", "missing_file"),
    } <= reasons
    assert build.stats["kept"]["topical_chat"] == 1  # t_1 restyled; t_2 (sentiment "Bored") quarantined


def test_quarantine_file_names_reason_and_input_hash(damaged_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ROSIE_DATA_ROOT", str(damaged_root))
    monkeypatch.setenv("ROSIE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    written = write_emotion_dataset(Settings.from_env())
    assert not written.passed  # a handful of rows: the minimum-size check says so
    rows = pq.read_table(written.quarantine_path).to_pylist()
    isear = [r for r in rows if r["source"] == "isear"]
    expected = hashlib.sha256((damaged_root / "emotion/isear/isear.csv").read_bytes()).hexdigest()
    assert isear and isear[0]["reason"] == "too_few_fields" and isear[0]["input_sha256"] == expected
    assert len(rows) == sum(written.build.stats["quarantined"].values())
