"""Leaks between splits, within and across the emotion and personality datasets.

Both datasets split by source item (``labeling.splits``), so by construction no dialogue straddles
splits. These measures check it on the written data, and catch what a hash of the wrong key would
let through: the same exchange (a previous turn and the reply to it) trained in one split of one
dataset and scored in another split of the other. Personality replies are restyled (a prefix, the
reply's first two sentences, maybe an emoji), so an emotion row matches a personality exchange when
the previous turns are the same text and the reply is one of the row's restyled forms: a restyling
prefix, then exactly the words restyling keeps of the row (compared as normalised text).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

import pyarrow as pa

from labeling.chat_format import turns_from_json
from labeling.personality import kept_words
from labeling.personality_templates import RESTYLE_PREFIX
from labeling.splits import SPLITS, text_key

EVALUATION_SPLITS: tuple[str, ...] = ("validation", "test")
_PREFIX_KEYS = {text_key(prefix) for prefixes in RESTYLE_PREFIX.values() for prefix in prefixes}


def _kept_key(text: str) -> str:
    return text_key(kept_words(text))


def _restyled_from(reply_key: str, kept_key: str) -> bool:
    """Whether a (normalised) personality reply is a restyling of the (normalised) kept words."""
    return bool(kept_key) and reply_key.endswith(kept_key) and (
        reply_key[: len(reply_key) - len(kept_key)].strip() in _PREFIX_KEYS
    )


def personality_exchanges(turns_json: Iterable[str]) -> dict[str, list[str]]:
    """``text_key(user turn) -> [text_key(Rosie's reply to it), ...]`` over the given conversations."""
    exchanges: dict[str, list[str]] = defaultdict(list)
    for data in turns_json:
        turns = turns_from_json(data)
        for previous, turn in zip(turns, turns[1:], strict=False):
            if previous.role == "user" and turn.role == "rosie" and previous.text:
                exchanges[text_key(previous.text)].append(text_key(turn.text))
    return exchanges


def _is_exchange(context: str | None, text: str, exchanges: Mapping[str, list[str]]) -> bool:
    if not context:
        return False
    words = _kept_key(text)
    return any(_restyled_from(reply, words) for reply in exchanges.get(text_key(context), ()))


def split_leaks(emotion: Mapping[str, pa.Table], personality: Mapping[str, pa.Table]) -> dict[str, object]:
    """Counts of what crosses splits (all zero when the splits hold no leak):

    - ``source_items_in_two_splits``: source items (dialogues, comments, ...) with rows in more than
      one split, over both datasets together;
    - ``emotion_texts_in_two_splits``: normalised labelled texts in more than one emotion split;
    - ``emotion_eval_rows_trained_in_personality``: gold validation/test emotion rows whose exchange
      (previous turn -> labelled text) is a personality *train* exchange, per split, of how many;
    - ``personality_eval_replies_trained_in_emotion``: validation/test personality exchanges that are
      emotion *train* rows, per split, with the number of exchanges looked at.
    """
    splits_of_item: dict[str, set[str]] = defaultdict(set)
    splits_of_text: dict[str, set[str]] = defaultdict(set)
    for split in SPLITS:
        for table in (emotion[split], personality[split]):
            for item in table.column("source_item").to_pylist():
                splits_of_item[item].add(split)
        for text in emotion[split].column("text").to_pylist():
            splits_of_text[text_key(text)].add(split)

    personality_train = personality_exchanges(personality["train"].column("turns").to_pylist())
    emotion_train: dict[str, list[str]] = defaultdict(list)
    for row in emotion["train"].select(["context", "text"]).to_pylist():
        if row["context"]:
            emotion_train[text_key(row["context"])].append(_kept_key(row["text"]))

    emotion_leaks, personality_leaks = {}, {}
    for split in EVALUATION_SPLITS:
        gold = [r for r in emotion[split].select(["context", "text", "label_source"]).to_pylist()
                if r["label_source"] == "gold"]
        leaked = sum(_is_exchange(r["context"], r["text"], personality_train) for r in gold)
        emotion_leaks[split] = {"gold_rows": leaked, "of": len(gold)}
        exchanges = personality_exchanges(personality[split].column("turns").to_pylist())
        looked_at = sum(len(replies) for replies in exchanges.values())
        trained = sum(
            any(_restyled_from(reply, words) for words in emotion_train.get(user, ()))
            for user, replies in exchanges.items()
            for reply in replies
        )
        personality_leaks[split] = {"exchanges": trained, "of": looked_at}
    return {
        "source_items_in_two_splits": sum(len(s) > 1 for s in splits_of_item.values()),
        "emotion_texts_in_two_splits": sum(len(s) > 1 for s in splits_of_text.values()),
        "emotion_eval_rows_trained_in_personality": emotion_leaks,
        "personality_eval_replies_trained_in_emotion": personality_leaks,
    }
