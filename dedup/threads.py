"""Reddit: comment-level filters, then thread reconstruction into conversation paths.

Threads are rebuilt from ``parent_id``, one input file at a time (so a path never depends on
which files a task happened to read together), and cut into root→reply chains that cover every
kept comment exactly once: a chain starts at a root (a submission, or a comment whose parent was
dropped or is missing) and follows the best-scored reply; every other reply starts a new chain
whose first turn is its parent, as context. Chains therefore share at most one turn, so sibling
paths are not near-duplicates of each other (root→every-leaf paths would repeat the same long
prefix and MinHash would collapse them).

A path is a dialogue: consecutive turns by the same author are merged into one turn, and a path
with fewer than two distinct authors (someone answering themselves) is dropped.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import defaultdict

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

BOT_AUTHORS = frozenset({"automoderator", "autotldr", "remindmebot", "totesmessenger", "imgurtranscriber"})
_BOT_NAME = re.compile(r"(^|[_-])bot$|bot$", re.I)
_BOT_SIGNATURE = re.compile(r"\bI am a bot\b|\bthis action was performed automatically\b", re.I)
_KIND_PREFIX = re.compile(r"^t\d_")
# Reddit's placeholders for a body a moderator removed or its author deleted, wherever they stand
# (a submission keeps its title: "Title\n\n[removed]").
_REMOVED_MARKER = re.compile(r"[ \t]*\[\s*(removed|deleted)(\s+by\s[^\]\n]{1,40})?\s*\][ \t]*", re.I)
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def reddit_id(value: object) -> str | None:
    """``t1_abc`` / ``t3_abc`` / ``abc`` -> ``abc``; None for empty values."""
    if value is None or value == "":
        return None
    return _KIND_PREFIX.sub("", str(value))


def comment_id(doc: Document) -> str:
    for key in ("name", "sentence_id", "comment_id", "id"):
        if doc.metadata.get(key):
            return reddit_id(doc.metadata[key])
    return doc.id.rsplit("#", 1)[-1]


def _score(doc: Document) -> int | None:
    try:
        return int(doc.metadata["score"])
    except (KeyError, TypeError, ValueError):
        return None


def is_bot(author: str | None, text: str) -> bool:
    if author and (author.lower() in BOT_AUTHORS or _BOT_NAME.search(author)):
        return True
    return bool(_BOT_SIGNATURE.search(text))


def strip_removed_markers(text: str) -> tuple[str, str | None]:
    """``text`` without ``[removed]``/``[deleted]`` markers, and the first marker's word (or None)."""
    found = _REMOVED_MARKER.search(text)
    if not found:
        return text, None
    text = _REMOVED_MARKER.sub(" ", text).replace(" \n", "\n").replace("\n ", "\n")
    return _BLANK_LINES.sub("\n\n", text).strip(), found.group(1).lower()


class RedditCommentFilter(BaseFilter):
    """Strips removed/deleted markers (a comment left empty is dropped as ``removed``/``deleted``),
    drops bot accounts, low scores and comments outside length bounds."""

    name = "👽 Reddit comments"

    def __init__(
        self,
        min_score: int = 1,
        min_chars: int = 5,
        max_chars: int = 2000,
        exclusion_writer: DiskWriter | None = None,
    ) -> None:
        super().__init__(exclusion_writer)
        self.min_score, self.min_chars, self.max_chars = min_score, min_chars, max_chars

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text, marker = strip_removed_markers(doc.text.strip())
        if marker:
            if not text:
                return False, marker
            doc.text = text
            self.stat_update("removed_markers_stripped")
        if is_bot(doc.metadata.get("author"), text):
            return False, "bot"
        score = _score(doc)
        if score is not None and score < self.min_score:
            return False, "low_score"
        if len(text) < self.min_chars:
            return False, "too_short"
        if len(text) > self.max_chars:
            return False, "too_long"
        return True


def speaker(turn: dict, index: int) -> str:
    """Who said a turn; turns without an author (pair records, deleted accounts) alternate
    between two unknown speakers."""
    return turn.get("author") or f"unknown-{index % 2}"


def merge_same_author(turns: list[dict]) -> list[dict]:
    """Consecutive turns by one (known) author become one turn, their texts a line apart."""
    merged: list[dict] = []
    for turn in turns:
        previous = merged[-1] if merged else None
        if previous and turn.get("author") and previous.get("author") == turn["author"]:
            previous["text"] = f"{previous['text'].rstrip()}\n{turn['text'].strip()}"
            previous["ids"] = [*previous.get("ids", [previous["id"]]), turn["id"]]
            previous["context"] = previous.get("context", False) and turn.get("context", False)
        else:
            merged.append(dict(turn))
    return merged


def render_dialogue(turns: list[dict]) -> str:
    """Plain dialogue text: one paragraph per turn, speakers lettered A, B, ... by first appearance."""
    speakers: dict[str, str] = {}
    lines = []
    for index, turn in enumerate(turns):
        label = speakers.setdefault(speaker(turn, index), chr(ord("A") + min(len(speakers), 25)))
        lines.append(f"{label}: {turn['text'].strip()}")
    return "\n\n".join(lines)


def _turn(doc: Document, context: bool = False) -> dict:
    author = doc.metadata.get("author")
    return {
        "id": comment_id(doc),
        "author": None if author in ("", "[deleted]") else author,  # deleted accounts: unknown
        "score": _score(doc),
        "text": doc.text,
        "context": context,
    }


class ThreadBuilder(PipelineStep):
    """Buffers a task's comments, rebuilds each input file's reply forest and yields one document
    per chain whose turns, same-author turns merged, come from at least two authors.

    Dropped chains go to the exclusion writer, every comment of them, as ``no_reply`` (a comment
    nobody answered), ``single_author`` (someone answering themselves) or ``too_few_turns``
    (under ``min_turns`` once merged).
    """

    type = "🧵 - THREAD"
    name = "🧵 Reddit threads"

    def __init__(self, min_turns: int = 2, exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__()
        self.min_turns = min_turns
        self.exclusion_writer = exclusion_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files: dict[str, dict[str, Document]] = defaultdict(dict)  # source file -> comment id -> comment
        for doc in data:
            self.stat_update("comments")
            nodes = files[doc.metadata.get("source_file") or ""]
            key = comment_id(doc)
            if key in nodes:  # the same comment twice in one file: keep the first
                self.stat_update("duplicate_comment")
            nodes.setdefault(key, doc)
        writer = self.exclusion_writer or contextlib.nullcontext()
        with writer as excluded:
            for source_file in sorted(files):
                nodes = files[source_file]
                for context, own in self._chains(*self._forest(nodes)):
                    turns = [
                        _turn(nodes[k], context=k == context) for k in ([context] if context else []) + own
                    ]
                    question = nodes[own[0]].metadata.get("parent_text")
                    if context is None and question:  # a reply pair whose question is no record of its own
                        parent = nodes[own[0]].metadata.get("parent_id")
                        turns.insert(0, {"id": parent, "author": None, "text": question, "context": True})
                    merged = merge_same_author(turns)
                    reason = (
                        "no_reply"
                        if len(turns) < 2
                        else "single_author"
                        if len(merged) < 2
                        else "too_few_turns"
                        if len(merged) < self.min_turns
                        else None
                    )
                    if reason is None:
                        self.stat_update("comments_in_paths", value=len(own))
                        yield self._path_document(own, merged, nodes)
                        continue
                    self.stat_update(f"dropped_{reason}", value=len(own))
                    if self.exclusion_writer:
                        for key in own:
                            nodes[key].metadata["filter_reason"] = reason
                            excluded.write(nodes[key], rank)

    @staticmethod
    def _forest(nodes: dict[str, Document]) -> tuple[list[str], dict[str, list[str]]]:
        """(roots, replies of each comment, best-scored first) of one file's comments."""
        children: dict[str, list[str]] = defaultdict(list)
        roots = []
        for key, doc in nodes.items():
            parent = reddit_id(doc.metadata.get("parent_id"))
            if parent is not None and parent in nodes and parent != key:
                children[parent].append(key)
            else:
                roots.append(key)
        for siblings in children.values():
            siblings.sort(key=lambda k: (-(_score(nodes[k]) or 0), k))
        return roots, children

    @staticmethod
    def _chains(roots: list[str], children: dict[str, list[str]]) -> list[tuple[str | None, list[str]]]:
        """(context parent or None, own comments following the best reply) for every chain."""
        chains = []
        starts: list[tuple[str | None, str]] = [(None, root) for root in sorted(roots)]
        while starts:
            context, node = starts.pop()
            own = []
            while node is not None:
                own.append(node)
                replies = children.get(node, [])
                starts.extend((node, other) for other in replies[1:])
                node = replies[0] if replies else None
            chains.append((context, own))
        return chains

    def _path_document(self, own: list[str], turns: list[dict], nodes: dict[str, Document]) -> Document:
        self.stat_update("paths")
        self.stat_update("turns", value=len(turns))
        head = nodes[own[0]]
        metadata = {
            key: head.metadata.get(key)
            for key in (
                "source",
                "source_file",
                "url",
                "title",
                "created",
                "input_sha256",
                "subreddit",
                "link_id",
            )
        }
        context_turns = next((i for i, turn in enumerate(turns) if not turn["context"]), len(turns))
        metadata.update(
            turns=json.dumps(
                [{k: v for k, v in t.items() if k != "context"} for t in turns], ensure_ascii=False
            ),
            n_turns=len(turns),
            context_turns=context_turns,  # leading turns repeated from another chain (or a pair's question)
            comment_ids=json.dumps(own),
        )
        return Document(text=render_dialogue(turns), id=f"{head.id}>{own[-1]}", metadata=metadata)
