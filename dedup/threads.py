"""Reddit: comment-level filters, then thread reconstruction into conversation paths.

Threads are rebuilt from ``parent_id`` and cut into root→reply chains that cover every kept
comment exactly once: a chain starts at a root (a submission, or a comment whose parent was
dropped or is missing) and follows the best-scored reply; every other reply starts a new chain
whose first turn is its parent, as context. Chains therefore share at most one turn, so sibling
paths are not near-duplicates of each other (root→every-leaf paths would repeat the same long
prefix and MinHash would collapse them).
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


class RedditCommentFilter(BaseFilter):
    """Drops deleted/removed comments, bot accounts, low scores and comments outside length bounds."""

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
        text = doc.text.strip()
        if text in ("[deleted]", "[removed]"):
            return False, text.strip("[]")
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


def render_dialogue(turns: list[dict]) -> str:
    """Plain dialogue text: one paragraph per turn, speakers lettered A, B, ... by first appearance."""
    speakers: dict[str, str] = {}
    lines = []
    for index, turn in enumerate(turns):
        who = turn.get("author") or f"unknown-{index % 2}"
        label = speakers.setdefault(who, chr(ord("A") + min(len(speakers), 25)))
        lines.append(f"{label}: {turn['text'].strip()}")
    return "\n\n".join(lines)


def _turn(doc: Document) -> dict:
    return {
        "id": comment_id(doc),
        "author": doc.metadata.get("author"),
        "score": _score(doc),
        "text": doc.text,
    }


class ThreadBuilder(PipelineStep):
    """Buffers a task's comments, rebuilds the reply forest and yields one document per chain.

    A root with no reply is no dialogue: it goes to the exclusion writer as ``no_reply``.
    """

    type = "🧵 - THREAD"
    name = "🧵 Reddit threads"

    def __init__(self, min_turns: int = 2, exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__()
        self.min_turns = min_turns
        self.exclusion_writer = exclusion_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        nodes: dict[str, Document] = {}
        for doc in data:
            self.stat_update("comments")
            key = comment_id(doc)
            if key in nodes:  # the same comment twice in one task: keep the first
                self.stat_update("duplicate_comment")
            nodes.setdefault(key, doc)
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

        writer = self.exclusion_writer or contextlib.nullcontext()
        with writer as excluded:
            for context, own in self._chains(roots, children):
                turns = [_turn(nodes[k]) for k in ([context] if context else []) + own]
                question = nodes[own[0]].metadata.get("parent_text")
                if context is None and question:  # a reply pair whose question is no record of its own
                    turns.insert(0, {"id": nodes[own[0]].metadata.get("parent_id"), "text": question})
                if len(turns) < self.min_turns:
                    self.stat_update("dropped_no_reply")
                    if self.exclusion_writer:
                        lone = nodes[own[-1]]
                        lone.metadata["filter_reason"] = "no_reply"
                        excluded.write(lone, rank)
                    continue
                self.stat_update("comments_in_paths", value=len(own))
                yield self._path_document(own, turns, nodes)

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
        metadata.update(
            turns=json.dumps(turns, ensure_ascii=False),
            n_turns=len(turns),
            context_turns=len(turns) - len(own),  # leading turns repeated from another chain
            comment_ids=json.dumps(own),
        )
        return Document(text=render_dialogue(turns), id=f"{head.id}>{own[-1]}", metadata=metadata)
