"""Build the emotion-labelled dataset: gold labels from annotated sources, weak labels from the
NRC lexicon for unlabelled dialogue, one label set, a split per source item (``labeling.splits``:
a dialogue never straddles splits, here or in the personality dataset), a licence per example.

Records in = kept + filtered (dropped label, duplicate, conflicting labels, low confidence, ...) +
quarantined (malformed records); every count lands in :class:`EmotionBuild.stats`.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
from tqdm import tqdm

from labeling.chat_format import DEFAULT_SYSTEM_PROMPT, Turn
from labeling.emotions import EMOTIONS
from labeling.licences import allowed_sources, licence_of
from labeling.mappings import GOEMOTIONS_EKMAN, GOEMOTIONS_ORIGINAL, MAPPINGS, UnknownLabelError
from labeling.sources import (
    GOLD_READERS,
    UNLABELLED_READERS,
    Quarantine,
    SourceFiles,
    SourceText,
    read_available,
    require_some,
    with_context,
)
from labeling.splits import SPLITS, item_key, split_of, text_key
from labeling.weak_labels import DEFAULT_MIN_HITS, DEFAULT_THRESHOLD, LexiconLabeller

EMOTION_SCHEMA = pa.schema(
    [
        pa.field("example_id", pa.string(), nullable=False),  # sha256 of the normalised text, 16 hex
        pa.field("text", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("label_source", pa.string(), nullable=False),  # gold | weak
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_label", pa.string(), nullable=False),
        pa.field("licence", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("source_item", pa.string(), nullable=False),  # the dialogue/comment/row it came from
        pa.field("context", pa.string()),  # the previous dialogue turn, if any
        pa.field("confidence", pa.float32(), nullable=False),  # 1.0 for gold
    ]
)

MAX_CHARS = 600  # utterance-level dataset: longer texts (Reddit posts) are filtered
MIN_WORDS = 2


@dataclass(frozen=True)
class EmotionOptions:
    exclude_noncommercial: bool = False
    weak_threshold: float = DEFAULT_THRESHOLD
    weak_min_hits: int = DEFAULT_MIN_HITS
    include_weak: bool = True


@dataclass
class EmotionBuild:
    tables: dict[str, pa.Table]
    stats: dict = field(default_factory=dict)
    quarantine: Quarantine = field(default_factory=Quarantine)
    input_sha256: dict[str, str] = field(default_factory=dict)


def resolve_goemotions(source_label: str) -> str | None:
    """GoEmotions is multi-label: keep a comment when its labels agree on one Rosie emotion, either
    in the original 27+neutral labels or, failing that, in the Ekman grouping."""
    original, _, ekman = source_label.partition("|")
    for mapping, labels in ((GOEMOTIONS_ORIGINAL, original), (GOEMOTIONS_EKMAN, ekman)):
        targets = {mapping.map(label) for label in labels.split(",") if label} - {None}
        if len(targets) == 1:
            return targets.pop()
    return None


def map_gold(record: SourceText) -> str | None:
    if record.source == "goemotions":
        return resolve_goemotions(record.source_label)
    return MAPPINGS[record.source].map(record.source_label)


def _too_short_or_long(text: str) -> str | None:
    if len(text) > MAX_CHARS:
        return "too_long"
    if len(text.split()) < MIN_WORDS:
        return "too_short"
    return None


def build_emotion_dataset(data_root: str, options: EmotionOptions = EmotionOptions()) -> EmotionBuild:
    files = SourceFiles(data_root)
    quarantine = Quarantine()
    allowed = allowed_sources(options.exclude_noncommercial)
    filtered: Counter[str] = Counter()
    records_in: Counter[str] = Counter()
    rows: dict[str, dict] = {}  # text key -> row
    conflicts: set[str] = set()
    splits_said_in: dict[str, set[str]] = defaultdict(set)  # text key -> splits of the items saying it

    def offer(row: dict) -> None:
        key = text_key(row["text"])
        splits_said_in[key].add(split_of(row["source_item"]))
        if not key:
            filtered[f"{row['source']}:empty_after_normalisation"] += 1
        elif key in conflicts:
            filtered[f"{row['source']}:conflicting_labels"] += 1
        elif key not in rows:
            rows[key] = row
        elif rows[key]["label"] == row["label"] or rows[key]["label_source"] != row["label_source"]:
            filtered[f"{row['source']}:duplicate"] += 1  # gold rows come first, so gold wins over weak
        else:
            # Annotators disagree on the exact same text: neither label is trustworthy.
            previous = rows.pop(key)
            conflicts.add(key)
            filtered[f"{previous['source']}:conflicting_labels"] += 1
            filtered[f"{row['source']}:conflicting_labels"] += 1

    for source, reader in GOLD_READERS.items():
        if source not in allowed:
            continue
        records = read_available(source, reader, files, quarantine)
        for record in tqdm(records, desc=f"emotion gold {source}", leave=False):
            try:
                label = map_gold(record)
            except UnknownLabelError as exc:
                quarantine.add(
                    source,
                    record.position.split(":")[0],
                    record.position,
                    "unknown_label",
                    str(exc),
                    record.text,
                )
                continue
            records_in[source] += 1
            reason = "dropped_label" if label is None else _too_short_or_long(record.text)
            if reason:
                filtered[f"{source}:{reason}"] += 1
                continue
            offer(_row(record, label, "gold", record.source_label, 1.0))

    if options.include_weak:
        labeller = LexiconLabeller(options.weak_threshold, options.weak_min_hits)
        for record in _unlabelled(files, quarantine, allowed):
            records_in[record.source] += 1
            reason = _too_short_or_long(record.text)
            weak = None if reason else labeller.label(record.text)
            if weak is None:
                filtered[f"{record.source}:{reason or 'below_confidence'}"] += 1
                continue
            offer(_row(record, weak.label, "weak", f"nrc:{weak.source_label}", weak.confidence))

    for key in [key for key in rows if len(splits_said_in[key]) > 1]:
        # Said in dialogues (or comments) of two splits: whichever split the row took, the other
        # split would hold the same words, in this dataset's context or the personality dataset.
        filtered[f"{rows.pop(key)['source']}:said_in_two_splits"] += 1
    require_some(quarantine, len(rows), data_root)
    by_split: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for row in rows.values():
        row["split"] = split_of(row["source_item"])
        by_split[row["split"]].append(row)
    tables = {
        split: pa.Table.from_pylist(
            sorted(split_rows, key=lambda r: text_key(r["text"])), schema=EMOTION_SCHEMA
        )
        for split, split_rows in by_split.items()
    }
    quarantined = Counter(r["source"] for r in quarantine.records)
    records_in.update(quarantined)
    kept = Counter(row["source"] for row in rows.values())
    filtered_by_source = Counter()
    for key, n in filtered.items():
        filtered_by_source[key.split(":")[0]] += n
    stats = {
        "records_in": dict(records_in),
        "kept": dict(kept),
        "filtered": dict(sorted(filtered.items())),
        "quarantined": quarantine.counts(),
        # records in = kept + filtered + quarantined, per source
        "accounted": all(
            records_in[s] == kept[s] + filtered_by_source[s] + quarantined[s] for s in records_in
        ),
        "class_balance": class_balance(rows.values()),
        "excluded_sources": sorted((set(GOLD_READERS) | set(UNLABELLED_READERS)) - allowed),
    }
    return EmotionBuild(tables, stats, quarantine, files.sha256)


def _unlabelled(files: SourceFiles, quarantine: Quarantine, allowed: set[str]) -> Iterable[SourceText]:
    for source, reader in UNLABELLED_READERS.items():
        if source in allowed:
            dialogues = read_available(source, reader, files, quarantine)
            for dialogue in tqdm(dialogues, desc=f"emotion weak {source}", leave=False):
                yield from with_context(dialogue)


def _row(record: SourceText, label: str, label_source: str, source_label: str, confidence: float) -> dict:
    return {
        "example_id": hashlib.sha256(text_key(record.text).encode("utf-8")).hexdigest()[:16],
        "text": record.text,
        "label": label,
        "label_source": label_source,
        "source": record.source,
        "source_label": source_label,
        "licence": licence_of(record.source),
        "source_item": item_key(record.source, record.item),
        "context": record.context,
        "confidence": confidence,
    }


def labelled_conversation(text: str, label: str, context: str | None) -> list[Turn]:
    """A labelled text as the conversation the engine would hold, its label on the text's own turn.

    Without a context the text is a user's first message (``rosie say``): the system turn, then the
    user's turn. With one, the context is the user's message and the text Rosie's reply to it: the
    system turn, the user's turn, Rosie's turn. Either way the head is trained exactly where the
    engine reads it (the labelled turn's ``<|end|>``), on a conversation the engine produces, and
    both readings it reports (the user's message, Rosie's reply) get human labels.
    """
    system = Turn("system", DEFAULT_SYSTEM_PROMPT)
    if context and context.strip():
        return [system, Turn("user", context), Turn("rosie", text, emotion=label)]
    return [system, Turn("user", text, emotion=label)]


def class_balance(rows: Iterable[dict]) -> dict[str, dict[str, int]]:
    """Counts per label, overall and per label source, every label listed (zeros included)."""
    table: dict[str, dict[str, int]] = {label: {"gold": 0, "weak": 0, "total": 0} for label in EMOTIONS}
    for row in rows:
        table[row["label"]][row["label_source"]] += 1
        table[row["label"]]["total"] += 1
    return table
