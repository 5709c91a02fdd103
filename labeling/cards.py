"""Markdown dataset cards, put in each dataset asset's metadata."""

from __future__ import annotations

from collections.abc import Mapping

from labeling.diversity import NEAR_DUPLICATE_JACCARD
from labeling.emotions import EMOTIONS
from labeling.licences import EXCLUDE_NONCOMMERCIAL_ENV, SOURCES
from labeling.mappings import dropped_labels
from labeling.splits import SPLIT_PERCENT


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _sources_table(kept: Mapping[str, int]) -> str:
    rows = [
        [s, n, SOURCES[s].licence, "yes" if SOURCES[s].commercial else "no"] for s, n in sorted(kept.items())
    ]
    return markdown_table(["source", "examples", "licence", "commercial use"], rows)


def _splits_line(split_sizes: Mapping[str, int], items: str) -> str:
    sizes = ", ".join(f"{split} {n:,}" for split, n in split_sizes.items())
    shares = "/".join(str(p) for p in SPLIT_PERCENT.values())
    return (
        f"Splits ({shares} by a sha256 of the source item, `labeling/splits.py`, shared by every "
        f"dataset: {items}): {sizes}. `source_item` names it; no item, and so no dialogue, is in two "
        "splits of this dataset or across the emotion and personality datasets (`python -m labeling leaks`)."
    )


def emotion_card(stats: Mapping, split_sizes: Mapping[str, int], exclude_noncommercial: bool) -> str:
    balance = stats["class_balance"]
    total = sum(row["total"] for row in balance.values()) or 1
    balance_rows = [
        [label, balance[label]["gold"], balance[label]["weak"], f"{balance[label]['total'] / total:.1%}"]
        for label in EMOTIONS
    ]
    dropped = [
        [source, label, reason]
        for source, labels in dropped_labels().items()
        for label, reason in labels.items()
    ]
    return "\n\n".join(
        [
            "# Rosie emotion dataset",
            "Utterances and dialogue turns labelled with Rosie's emotion set "
            f"({', '.join(EMOTIONS)}). `label_source` is `gold` for human annotations mapped by "
            "`labeling/mappings.py` and `weak` for NRC-lexicon labels of unlabelled dialogue kept above "
            "the confidence threshold; `confidence` is 1.0 for gold. `context` is the previous turn. "
            "`example_id` is a sha256 of the normalised text (one row per text).",
            _splits_line(
                split_sizes,
                "the dialogue for DailyDialog, EmpatheticDialogues (named by its opening, as the file "
                "repeats dialogues under several ids), Topical-Chat and the chit-chat corpora, the "
                "comment for GoEmotions, the questionnaire row for ISEAR, the comment tree for Reddit; "
                "a text said in items of two splits is left out (`said_in_two_splits`)",
            ),
            f"Non-commercial sources excluded: **{'yes' if exclude_noncommercial else 'no'}** "
            f"(`{EXCLUDE_NONCOMMERCIAL_ENV}=1`).",
            "## Sources\n\n" + _sources_table(stats["kept"]),
            "## Class balance\n\n" + markdown_table(["label", "gold", "weak", "share"], balance_rows),
            "## Labels dropped on purpose\n\n" + markdown_table(["source", "label", "why"], dropped),
            "## Known limitations\n\nWeak labels are lexicon votes: about 4 in 10 agree with GoEmotions' "
            "human labels on non-neutral comments (docs/datasets.md), so the baseline scores "
            "on gold test rows only. Texts shorter than 2 words or longer than 600 characters are "
            "left out; texts whose annotators disagree are dropped.",
        ]
    )


def personality_card(stats: Mapping, split_sizes: Mapping[str, int], diversity: Mapping) -> str:
    categories = markdown_table(["category", "conversations"], sorted(stats["categories"].items()))
    kinds = list(diversity)
    diversity_rows = [[measure, *(diversity[k][measure] for k in kinds)] for measure in diversity[kinds[0]]]
    return "\n\n".join(
        [
            "# Rosie personality dataset",
            "Conversations in Rosie's playful-assistant voice, in the one chat format "
            "(`labeling/chat_format.py`): a system turn, user turns (words and/or an action token "
            "such as `<|action:drag|>`) and Rosie turns, each labelled with an emotion (the emotion "
            "head's target at the turn's `<|end|>`, never rendered). Authored templates "
            "and slot fillers (`labeling/personality_templates.py`) are combined with real "
            "chit-chat restyled into her voice.",
            _splits_line(
                split_sizes,
                "the source dialogue for restyled chit-chat (all its windows share a split, the "
                "split its labelled turns have in the emotion dataset), the conversation itself for "
                "templated ones",
            ),
            "## Sources\n\n" + _sources_table(stats["kept"]),
            "## Categories\n\n" + categories,
            "## Diversity\n\ndistinct-n over Rosie's turns; near-duplicates are conversations with "
            f"another one at word-3-gram Jaccard >= {NEAR_DUPLICATE_JACCARD} (MinHash LSH, verified).\n\n"
            + markdown_table(["measure", *kinds], diversity_rows),
        ]
    )
