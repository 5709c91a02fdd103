"""Every label every source can emit maps to Rosie's set or is dropped on purpose and listed."""

from __future__ import annotations

import pytest

from labeling.emotions import EMOTIONS
from labeling.mappings import (
    DAILYDIALOG,
    MAPPINGS,
    NRC_LEXICON,
    LabelMapping,
    UnknownLabelError,
    dropped_labels,
)
from labeling.sources import GOLD_READERS, Quarantine, SourceFiles


def test_every_target_is_a_rosie_emotion_and_every_core_label_is_reachable():
    targets = {t for m in MAPPINGS.values() for t in m.mapped.values()}
    assert targets <= set(EMOTIONS)
    assert targets == set(EMOTIONS)  # no label of the set is unreachable from the gold sources


def test_published_label_lists_are_fully_covered(data_root):
    for variant in ("original", "ekman"):
        names = (data_root / f"emotion/goemotions/{variant}/labels.txt").read_text().split()
        assert set(names) == MAPPINGS[f"goemotions_{variant}"].source_labels
    assert DAILYDIALOG.source_labels == {str(code) for code in range(7)}
    lexicon = __import__("nrclex.core", fromlist=["EMOTION_ORDER"]).EMOTION_ORDER
    assert set(lexicon) == NRC_LEXICON.source_labels


@pytest.mark.parametrize(
    "source", ["dailydialog", "empatheticdialogues", "isear", "topical_chat", "goemotions"]
)
def test_every_label_in_the_sample_maps_or_is_listed_as_dropped(data_root, source):
    quarantine = Quarantine()
    seen = set()
    for record in GOLD_READERS[source](SourceFiles(str(data_root)), quarantine):
        if source == "goemotions":
            original, _, ekman = record.source_label.partition("|")
            seen |= {("goemotions_original", x) for x in original.split(",")}
            seen |= {("goemotions_ekman", x) for x in ekman.split(",") if x}
        else:
            seen.add((source, record.source_label))
    assert seen
    unmapped = [(s, label) for s, label in seen if label not in MAPPINGS[s].source_labels]
    assert unmapped == []
    assert not [r for r in quarantine.records if r["reason"] == "unknown_label"]


def test_dropped_labels_are_listed_with_reasons():
    dropped = dropped_labels()
    assert "questioning" in dropped["empatheticdialogues"]
    assert all(reason.strip() for labels in dropped.values() for reason in labels.values())
    assert MAPPINGS["empatheticdialogues"].map("questioning") is None


def test_unknown_labels_raise_and_bad_mappings_are_rejected():
    with pytest.raises(UnknownLabelError):
        DAILYDIALOG.map("7")
    with pytest.raises(ValueError):
        LabelMapping("x", mapped={"joy": "ecstatic"})
    with pytest.raises(ValueError):
        LabelMapping("x", mapped={"joy": "happy"}, dropped={"joy": "twice"})
