"""Readers for the raw formats. Each turns a decompressed chunk stream into events (see ``records``).

``reader_for(path)`` picks the reader from the file's top-level folder (its source) and suffix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from dedup.readers.gutenberg import read_gutenberg
from dedup.readers.jsonl import read_jsonl, web_document
from dedup.readers.records import Document, Event, Quarantined, Skipped
from dedup.readers.reddit import read_reddit_json, read_reddit_jsonl
from dedup.readers.stream import Chunks, inflate_chunks
from dedup.readers.warc import read_warc

__all__ = ["Document", "Event", "Quarantined", "Reader", "Skipped", "inflate_chunks", "reader_for"]


@dataclass(frozen=True)
class Reader:
    source: str
    format: str
    read: Callable[[Chunks], Iterator[Event]]


def _strip_gz(name: str) -> str:
    return name[:-3] if name.endswith(".gz") else name


def reader_for(path: str) -> Reader | None:
    """The reader for a path relative to the data root (``web/...``, ``books/...``, ``reddit/...``)."""
    source, _, rest = path.partition("/")
    name = _strip_gz(rest.rsplit("/", 1)[-1].lower())
    if source == "web":
        if name.endswith((".warc", ".wet")):
            return Reader(source, "warc", read_warc)
        if name.endswith((".jsonl", ".json")):
            return Reader(source, "cc_jsonl", partial(read_jsonl, parse=web_document))
    elif source == "books":
        if name.endswith(".txt"):
            return Reader(source, "gutenberg", partial(read_gutenberg, name=name))
    elif source == "reddit":
        if name.endswith(".jsonl"):
            return Reader(source, "reddit_jsonl", read_reddit_jsonl)
        if name.endswith(".json"):
            return Reader(source, "reddit_json", read_reddit_json)
    return None
