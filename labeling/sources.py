"""Readers for the labelled emotion sources and the unlabelled dialogue sources.

Every reader yields :class:`SourceText` records and reports each bad record to a
:class:`Quarantine` (reason + position) instead of crashing or dropping it silently. Paths are
relative to the data root (``Settings.data_root``, any fsspec URL). The sample's formats are
described in ``../shared/data/README.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml

from foundation.data_root import DataRoot
from labeling.splits import text_key


@dataclass(frozen=True)
class SourceText:
    """One utterance or dialogue turn. ``source_label`` is the raw label string ('' if unlabelled).

    ``item`` names what the text came from, whole: a dialogue, a comment, a questionnaire row, a
    Reddit comment tree. Every dataset splits by it (``labeling.splits``), so no dialogue straddles
    splits, in one dataset or across them.
    """

    text: str
    source: str
    source_label: str
    context: str | None
    position: str  # "<file>:<line or key>" so any row can be traced back
    item: str


@dataclass
class Quarantine:
    """Bad records, each with a machine-readable reason; counted per reason for asset metadata."""

    records: list[dict] = field(default_factory=list)

    def add(
        self, source: str, source_file: str, position: str, reason: str, detail: str, raw: str = ""
    ) -> None:
        self.records.append(
            {
                "source": source,
                "source_file": source_file,
                "position": position,
                "reason": reason,
                "detail": detail,
                "raw": raw.encode("utf-8", "replace")[:512],
            }
        )

    def counts(self) -> dict[str, int]:
        return dict(Counter(f"{r['source']}:{r['reason']}" for r in self.records))


class SourceFiles(DataRoot):
    """The data root, remembering the sha256 of every file read (lineage)."""

    def __init__(self, data_root: str) -> None:
        super().__init__(data_root)
        self.sha256: dict[str, str] = {}

    def read_bytes(self, rel: str) -> bytes:
        data = super().read_bytes(rel)
        self.sha256[rel] = hashlib.sha256(data).hexdigest()
        return data

    def read_text(self, rel: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(rel).decode(encoding, errors="replace")


def read_available(source: str, reader, files: SourceFiles, quarantine: Quarantine) -> Iterator:
    """A reader's records; a missing file ends that source with a ``missing_file`` quarantine entry
    instead of failing the whole build (a partial data root still builds what it can)."""
    try:
        yield from reader(files, quarantine)
    except FileNotFoundError as exc:
        quarantine.add(source, str(exc.filename or ""), "-", "missing_file", exc.strerror or str(exc))


def require_some(quarantine: Quarantine, records: int, data_root: str) -> None:
    """Fail with the fix when nothing at all was readable: the data root is wrong, not the data."""
    if records == 0 and quarantine.records and all(r["reason"] == "missing_file" for r in quarantine.records):
        raise FileNotFoundError(
            f"no source file found under {data_root}: set ROSIE_DATA_ROOT to the sample data (../shared/data)"
        )


_SPACE = re.compile(r"\s+")
# Tokenised corpora (DailyDialog, EmpatheticDialogues, Persona-Chat) put spaces around punctuation.
_SPACE_BEFORE_PUNCT = re.compile(r" ([.,!?;:%)]|n't|'(?:s|re|ve|ll|d|m)\b)")
_SPACE_AFTER_OPEN = re.compile(r"([($]) ")


def clean_text(text: str) -> str:
    """Collapse whitespace and strip; the one normalisation every source gets."""
    return _SPACE.sub(" ", text).strip()


def detokenize(text: str) -> str:
    """Undo PTB-style spacing ("we 're here ." -> "we're here.") and the ``_comma_`` escape."""
    text = clean_text(text.replace("_comma_", ","))
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SPACE_AFTER_OPEN.sub(r"\1", text)


# ---------------------------------------------------------------- labelled (gold) sources


def read_goemotions(files: SourceFiles, quarantine: Quarantine) -> Iterator[SourceText]:
    """GoEmotions comments with original label names joined by ','; the Ekman grouping is read
    alongside (same comment ids) and appended after '|' so the builder can resolve mixed labels."""
    for split in ("train", "dev"):
        names = {
            variant: files.read_text(f"emotion/goemotions/{variant}/labels.txt").split()
            for variant in ("original", "ekman")
        }
        ekman_by_id: dict[str, str] = {}
        ekman_rel = f"emotion/goemotions/ekman/{split}.tsv"
        for line in files.read_text(ekman_rel).splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                ekman_by_id[parts[2]] = parts[1]
        rel = f"emotion/goemotions/original/{split}.tsv"
        for number, line in enumerate(files.read_text(rel).splitlines(), 1):
            parts = line.split("\t")
            if len(parts) != 3 or not parts[0].strip():
                quarantine.add(
                    "goemotions", rel, str(number), "malformed_line", "want text<TAB>ids<TAB>id", line
                )
                continue
            text, ids, comment_id = parts
            try:
                original = [names["original"][int(i)] for i in ids.split(",")]
                ekman = [names["ekman"][int(i)] for i in ekman_by_id.get(comment_id, "").split(",") if i]
            except (ValueError, IndexError) as exc:
                quarantine.add("goemotions", rel, str(number), "bad_label_id", str(exc), line)
                continue
            label = ",".join(original) + "|" + ",".join(ekman)
            yield SourceText(clean_text(text), "goemotions", label, None, f"{rel}:{number}", comment_id)


def read_dailydialog(files: SourceFiles, quarantine: Quarantine) -> Iterator[SourceText]:
    """DailyDialog utterances (``__eou__``-separated) with their per-utterance emotion code."""
    rel = "emotion/dailydialog/validation/dialogues_validation.txt"
    rel_emotion = "emotion/dailydialog/validation/dialogues_emotion_validation.txt"
    dialogues = files.read_text(rel).splitlines()
    emotions = files.read_text(rel_emotion).splitlines()
    if len(dialogues) != len(emotions):
        quarantine.add("dailydialog", rel, "-", "line_count_mismatch", f"{len(dialogues)} vs {len(emotions)}")
    for number, (dialogue, codes) in enumerate(zip(dialogues, emotions, strict=False), 1):
        utterances = [u for u in dialogue.split("__eou__") if u.strip()]
        labels = codes.split()
        if len(utterances) != len(labels):
            quarantine.add(
                "dailydialog",
                rel,
                str(number),
                "label_count_mismatch",
                f"{len(utterances)} utterances, {len(labels)} labels",
                dialogue,
            )
            continue
        item = f"{rel}:{number}"
        yield from with_context(
            [
                SourceText(detokenize(text), "dailydialog", label, None, f"{item}.{turn}", item)
                for turn, (text, label) in enumerate(zip(utterances, labels, strict=True))
            ]
        )


def read_empatheticdialogues(files: SourceFiles, quarantine: Quarantine) -> Iterator[SourceText]:
    """EmpatheticDialogues turns with their utterance-level emotion/intent label.

    The file repeats a dialogue under several ids (whole or cut short), so a dialogue is named by
    its opening utterance, not its id: every copy is one source item.
    """
    rel = "emotion/empatheticdialogues/valid.csv"
    reader = csv.DictReader(io.StringIO(files.read_text(rel)))
    previous: tuple[str, str] | None = None  # (dialogue id, text)
    item_of: dict[str, str] = {}  # dialogue id -> its opening utterance's hash
    for number, row in enumerate(reader, 2):
        text, label = detokenize(row.get("text") or ""), (row.get("emotion") or "").strip()
        dialogue = row.get("dialogue_id") or ""
        if not text or not label:
            quarantine.add(
                "empatheticdialogues", rel, str(number), "missing_text_or_label", "", json.dumps(row)
            )
            continue
        context = previous[1] if previous and previous[0] == dialogue else None
        opening = hashlib.sha256(text_key(text).encode("utf-8")).hexdigest()[:16]
        item = item_of.setdefault(dialogue, f"opening:{opening}")
        yield SourceText(text, "empatheticdialogues", label, context, f"{rel}:{number}", item)
        previous = (dialogue, text)


def read_isear(files: SourceFiles, quarantine: Quarantine) -> Iterator[SourceText]:
    """ISEAR situations (``|``-separated, latin-1). Some situations contain '|' themselves."""
    rel = "emotion/isear/isear.csv"
    lines = files.read_text(rel, encoding="latin-1").splitlines()
    header = lines[0].split("|")
    label_col, text_col = header.index("Field1"), header.index("SIT")
    trailing = len(header) - text_col - 1  # columns after SIT (STATE and the empty last one)
    for number, line in enumerate(lines[1:], 2):
        parts = line.split("|")
        if len(parts) < len(header):
            quarantine.add("isear", rel, str(number), "too_few_fields", f"{len(parts)} < {len(header)}", line)
            continue
        # The original files encode line-wrapped situations with "á" (0xE1) as the break marker.
        text = clean_text("|".join(parts[text_col : len(parts) - trailing]).replace("\xe1", " "))
        if not text:
            quarantine.add("isear", rel, str(number), "empty_text", "", line)
            continue
        yield SourceText(text, "isear", parts[label_col].strip(), None, f"{rel}:{number}", f"{rel}:{number}")


def read_topical_chat(files: SourceFiles, quarantine: Quarantine) -> Iterator[SourceText]:
    """Topical-Chat turns with their self-reported sentiment; context is the previous turn."""
    for dialogue in read_topical_chat_dialogues(files, quarantine):
        yield from with_context(dialogue)


def _topical_chat_conversations(files: SourceFiles, quarantine: Quarantine) -> Iterator[tuple[str, list]]:
    for rel in ("chitchat/topical_chat/valid_freq.json", "chitchat/topical_chat/valid_rare.json"):
        try:
            data = json.loads(files.read_text(rel))
        except json.JSONDecodeError as exc:
            quarantine.add("topical_chat", rel, "-", "bad_json", str(exc))
            continue
        for key, conversation in data.items():
            turns = conversation.get("content") if isinstance(conversation, dict) else None
            if not isinstance(turns, list):
                quarantine.add("topical_chat", rel, key, "no_content", "", json.dumps(conversation)[:500])
                continue
            yield f"{rel}:{key}", turns


GOLD_READERS = {
    "goemotions": read_goemotions,
    "dailydialog": read_dailydialog,
    "empatheticdialogues": read_empatheticdialogues,
    "isear": read_isear,
    "topical_chat": read_topical_chat,
}

# ---------------------------------------------------------------- chit-chat (unlabelled) sources


def read_topical_chat_dialogues(files: SourceFiles, quarantine: Quarantine) -> Iterator[list[SourceText]]:
    """Whole Topical-Chat conversations (for the personality dataset)."""
    for conversation_id, turns in _topical_chat_conversations(files, quarantine):
        dialogue = [
            SourceText(
                clean_text(t.get("message") or ""),
                "topical_chat",
                t.get("sentiment") or "",
                None,
                f"{conversation_id}.{i}",
                conversation_id.rsplit(":", 1)[-1],  # the conversation key, whichever file holds it
            )
            for i, t in enumerate(turns)
        ]
        yield [t for t in dialogue if t.text]


def read_personachat_dialogues(files: SourceFiles, quarantine: Quarantine) -> Iterator[list[SourceText]]:
    """Persona-Chat: numbered lines, persona lines first, then ``partner<TAB>self`` turn pairs."""
    rel = "chitchat/personachat/sample9_valid_self_original_no_cands.txt"
    dialogue: list[SourceText] = []
    for number, line in enumerate(files.read_text(rel).splitlines(), 1):
        index, _, body = line.partition(" ")
        if not index.isdigit():
            quarantine.add("personachat", rel, str(number), "malformed_line", "no turn number", line)
            continue
        if index == "1" and dialogue:
            yield dialogue
            dialogue = []
        if body.startswith("your persona:"):
            continue
        for text in body.split("\t"):
            if text.strip():
                item = dialogue[0].item if dialogue else f"{rel}:{number}"  # the dialogue's first line
                turn = SourceText(detokenize(text), "personachat", "", None, f"{rel}:{number}", item)
                dialogue.append(turn)
    if dialogue:
        yield dialogue


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: 10x faster


def read_chatterbot_dialogues(files: SourceFiles, quarantine: Quarantine) -> Iterator[list[SourceText]]:
    """Chatterbot corpus: each YAML conversation is [prompt, reply, reply, ...]."""
    for rel in files.list("chitchat/chatterbot_corpus_english", ".yml"):
        try:
            document = yaml.load(files.read_text(rel), Loader=_YAML_LOADER) or {}
        except yaml.YAMLError as exc:
            quarantine.add("chatterbot", rel, "-", "bad_yaml", str(exc))
            continue
        category = ",".join(document.get("categories") or [])
        for index, conversation in enumerate(document.get("conversations") or []):
            position = f"{rel}:{index}"
            if not isinstance(conversation, list) or len(conversation) < 2:
                quarantine.add(
                    "chatterbot", rel, str(index), "not_a_conversation", "", repr(conversation)[:300]
                )
                continue
            yield [
                SourceText(clean_text(str(text)), "chatterbot", category, None, position, position)
                for text in conversation
                if str(text).strip()
            ]


def read_overheard_dialogues(files: SourceFiles, quarantine: Quarantine) -> Iterator[list[SourceText]]:
    """NLTK webtext ``overheard.txt``: blank-line-separated scenes of ``Speaker: words`` lines."""
    rel = "chitchat/nltk_webtext/webtext.zip"
    with zipfile.ZipFile(io.BytesIO(files.read_bytes(rel))) as archive:
        raw = archive.read("webtext/overheard.txt").decode("utf-8", errors="replace")
    for index, scene in enumerate(raw.split("\n\n")):
        turns = []
        for line in scene.splitlines():
            speaker, sep, words = line.partition(":")
            if sep and words.strip() and len(speaker) <= 40:
                position = f"{rel}:overheard.{index}"
                turns.append(SourceText(clean_text(words), "overheard", "", None, position, position))
        if turns:
            yield turns


def read_reddit_threads(files: SourceFiles, quarantine: Quarantine) -> Iterator[list[SourceText]]:
    """Reddit comments as (parent, reply) pairs: the flattened thread and the comment→reply pairs.

    A light reader of the sample files so the emotion dataset needs nothing from the ingest layer.
    """
    rel = "reddit/reddit_announcements_n49rw_thread.jsonl"
    bodies: dict[str, str] = {}
    parent_of: dict[str, str] = {}
    comments: list[tuple[str, str, str]] = []  # (position, name, body)
    for number, line in enumerate(files.read_text(rel).splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            quarantine.add("reddit", rel, str(number), "bad_json", str(exc), line)
            continue
        name = record.get("name", "")
        parent_of[name] = record.get("parent_id") or ""
        body = clean_text(record.get("body") or record.get("selftext") or record.get("title") or "")
        if body in ("", "[deleted]", "[removed]"):
            continue
        bodies[name] = body
        comments.append((f"{rel}:{number}", name, body))
    for position, name, body in comments:
        context = bodies.get(parent_of[name])
        yield _pair(context, body, "reddit", position, f"{rel}:{_top_comment(name, parent_of)}")
    for rel in files.list("reddit/leahrnh_reddit_pairs_2015-03-21", ".json"):
        raw = files.read_text(rel)
        if raw.startswith("[,"):  # known bug of the crawler (see its README)
            raw = "[" + raw[2:]
        try:
            pairs = json.loads(raw)
        except json.JSONDecodeError as exc:
            quarantine.add("reddit", rel, "-", "bad_json", str(exc), raw[:300])
            continue
        for index, pair in enumerate(pairs):
            answer = clean_text(pair.get("answer") or "")
            if answer:
                question = clean_text(pair.get("question") or "") or None
                yield _pair(question, answer, "reddit", f"{rel}:{index}", f"{rel}:{index}")


def _top_comment(name: str, parent_of: dict[str, str]) -> str:
    """The top-level comment a Reddit comment hangs under: its tree is one conversation (one item)."""
    seen = set()
    while parent_of.get(name, "").startswith("t1_") and name not in seen:  # t1_: a comment, t3_: the post
        seen.add(name)
        name = parent_of[name]
    return name


def _pair(context: str | None, text: str, source: str, position: str, item: str) -> list[SourceText]:
    reply = SourceText(text, source, "", None, position, item)
    return [SourceText(context, source, "", None, position, item), reply] if context else [reply]


def with_context(dialogue: list[SourceText]) -> Iterator[SourceText]:
    """Each turn of a dialogue with the previous turn as its context."""
    previous = None
    for turn in dialogue:
        yield SourceText(turn.text, turn.source, turn.source_label, previous, turn.position, turn.item)
        previous = turn.text


CHITCHAT_READERS = {
    "topical_chat": read_topical_chat_dialogues,
    "personachat": read_personachat_dialogues,
    "chatterbot": read_chatterbot_dialogues,
    "overheard": read_overheard_dialogues,
}

UNLABELLED_READERS = {
    "reddit": read_reddit_threads,
    "personachat": read_personachat_dialogues,
    "chatterbot": read_chatterbot_dialogues,
    "overheard": read_overheard_dialogues,
}
