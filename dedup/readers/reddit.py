"""Reddit comments and submissions from three shapes of file, all to one kind of record.

- pushshift-style JSON Lines: one comment (``body``) or submission (``title``) per line;
- raw Reddit API JSON: a listing (``{"kind": "Listing"}``, or the ``[submission, comments]`` pair a
  thread page returns), or a recorded HTTP cassette (``{"interactions": [...]}``) of such calls,
  walked recursively through ``replies`` and ``morechildren`` answers;
- comment-reply pair arrays (``[{"question", "answer", ...}]``); a file that starts ``[,`` (a known
  bug of the tool that wrote them) or breaks off half way is read as far as it is valid.

Every comment keeps ``parent_id`` and ``link_id`` (its thread), so the cleaning step can rebuild
conversation paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import orjson

from dedup.readers.jsonl import read_jsonl
from dedup.readers.records import Document, Event, Quarantined, Skipped, utc_from_timestamp
from dedup.readers.stream import Chunks, read_all

MAX_JSON_FILE_BYTES = 512 * 1024 * 1024
_NEXT_ELEMENT = re.compile(r"\}\s*,\s*(?=\{)")
_INVALID_BYTE = re.compile(r"[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8
_THING_FIELDS = (
    "id",
    "name",
    "parent_id",
    "link_id",
    "subreddit",
    "subreddit_id",
    "author",
    "score",
    "depth",
)


def read_reddit_jsonl(chunks: Chunks) -> Iterator[Event]:
    """pushshift-style JSON Lines."""
    return read_jsonl(chunks, lambda record, line: thing_document(record, f"line {line}"))


def read_reddit_json(chunks: Chunks) -> Iterator[Event]:
    """A whole-file JSON document: API listing, recorded cassette, or an array of pairs/comments."""
    data, gap, too_large = read_all(chunks, MAX_JSON_FILE_BYTES)
    if too_large:
        yield Quarantined.of("file", "record_too_large", f"JSON file over {MAX_JSON_FILE_BYTES} bytes", data)
        return
    text = data.decode("utf-8", errors="surrogateescape")
    if text.lstrip().startswith("["):
        events = _read_array(text, gap.reason if gap else None)
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Quarantined.of(f"char {exc.pos}", gap.reason if gap else "malformed_json", str(exc), data)
            return
        cassette = isinstance(document, dict) and "interactions" in document
        events = _read_cassette(document) if cassette else _unique(_walk(document, "document"))
    gap_reported = False
    for event in events:
        gap_reported |= gap is not None and isinstance(event, Quarantined) and event.reason == gap.reason
        yield event
    if gap is not None and not gap_reported:  # the cut fell between two elements: still a loss to count
        yield Quarantined.of(f"compressed byte {gap.offset}", gap.reason, gap.detail)


def _read_array(text: str, gap_reason: str | None) -> Iterator[Event]:
    """Decode a top-level JSON array element by element, resuming after a bad element."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    index = 0
    seen: set[str] = set()
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":  # ",," and a leading "[," hold no element
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        try:
            element, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            resume = _NEXT_ELEMENT.search(text, pos + 1)
            stop = resume.start() + 1 if resume else len(text)
            reason = "malformed_json" if resume else (gap_reason or "truncated_json")
            raw = text[pos:stop].encode("utf-8", errors="surrogateescape")
            yield Quarantined.of(f"element {index}", reason, str(exc), raw)
            pos, index = (resume.end(), index + 1) if resume else (len(text), index + 1)
            continue
        if _INVALID_BYTE.search(text, pos, end):
            raw = text[pos:end].encode("utf-8", errors="surrogateescape")
            yield Quarantined.of(f"element {index}", "invalid_utf8", "bytes that are not UTF-8", raw)
        elif isinstance(element, dict) and "answer" in element:
            yield pair_document(element, index)
        else:
            yield from _unique(_walk(element, f"element {index}"), seen)
        pos, index = end, index + 1


def _read_cassette(cassette: dict) -> Iterator[Event]:
    """A recorded HTTP session (betamax/vcr): every response body that is a Reddit listing."""
    seen: set[str] = set()
    for number, interaction in enumerate(cassette.get("interactions") or []):
        body = ((interaction.get("response") or {}).get("body") or {}).get("string")
        if not isinstance(body, str) or '"kind"' not in body:
            continue  # an OAuth token or another non-listing call: no records in it
        try:
            document = json.loads(body)
        except json.JSONDecodeError as exc:
            yield Quarantined.of(f"interaction {number}", "malformed_json", str(exc), body.encode())
            continue
        yield from _unique(_walk(document, f"interaction {number}"), seen)


def _walk(node: object, where: str) -> Iterator[Event]:
    """Every comment/submission in a listing tree (``replies`` and ``morechildren`` included)."""
    if isinstance(node, list):
        for child in node:
            yield from _walk(child, where)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("kind")
    data = node.get("data")
    if kind in ("t1", "t3") and isinstance(data, dict):
        yield thing_document({**data, "kind": kind}, where)
        yield from _walk(data.get("replies"), where)
    elif kind == "more":
        yield Skipped("more_stub")  # a "load more comments" placeholder, not a comment
    elif kind == "Listing" and isinstance(data, dict):
        yield from _walk(data.get("children"), where)
    elif isinstance(node.get("json"), dict):  # /api/morechildren answer
        yield from _walk((node["json"].get("data") or {}).get("things"), where)
    elif "body" in node or "title" in node:
        yield thing_document(node, where)


def _unique(events: Iterator[Event], seen: set[str] | None = None) -> Iterator[Event]:
    """A comment fetched twice (page, then morechildren) is one record; the repeat is skipped."""
    seen = set() if seen is None else seen
    for event in events:
        if isinstance(event, Document):
            if event.key in seen:
                yield Skipped("duplicate_id")
                continue
            seen.add(event.key)
        yield event


def thing_document(record: dict, where: str) -> Event:
    """One comment (``t1``) or submission (``t3``) from pushshift or API fields."""
    is_submission = record.get("kind") == "t3" or ("title" in record and "body" not in record)
    thing_id = record.get("id")
    if not isinstance(thing_id, str) or not thing_id:
        return Quarantined.of(where, "missing_field", "no 'id'", orjson.dumps(record)[:2048])
    prefix = "t3_" if is_submission else "t1_"
    name = record.get("name") or prefix + thing_id
    if is_submission:
        title = record.get("title") or ""
        selftext = record.get("selftext") or ""
        text = f"{title}\n\n{selftext}".strip()
        link_id = name
    else:
        body = record.get("body")
        if not isinstance(body, str):
            return Quarantined.of(
                where, "missing_field", "comment without 'body'", orjson.dumps(record)[:2048]
            )
        text, title, link_id = body, None, record.get("link_id")
    permalink = record.get("permalink")
    metadata = {k: record.get(k) for k in _THING_FIELDS}
    metadata.update(
        format="reddit",
        kind="t3" if is_submission else "t1",
        name=name,
        link_id=link_id,
        parent_id=None if is_submission else record.get("parent_id"),
    )
    return Document(
        key=name,
        text=text,
        url=f"https://www.reddit.com{permalink}" if isinstance(permalink, str) else record.get("url"),
        title=title,
        created=utc_from_timestamp(record.get("created_utc")),
        metadata=metadata,
    )


def pair_document(element: dict, index: int) -> Event:
    """One comment→reply pair: the reply is the document, the comment it answers is its context."""
    answer = element.get("answer")
    if not isinstance(answer, str):
        return Quarantined.of(
            f"element {index}", "missing_field", "no string 'answer'", orjson.dumps(element)
        )
    return Document(
        key=f"pair{index}",
        text=answer,
        metadata={
            "format": "reddit_pairs",
            "kind": "t1",
            "subreddit_id": element.get("docID"),
            "parent_id": f"s{element.get('qSentId')}",
            "link_id": None,
            "sentence_id": f"s{element.get('aSentId')}",
            "parent_text": element.get("question"),
        },
    )
