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

from collections.abc import Iterator

import orjson

from dedup.readers.json_stream import JsonCut, JsonGap, JsonTooLarge, JsonValue, json_values
from dedup.readers.jsonl import read_jsonl
from dedup.readers.records import Document, Event, Quarantined, Skipped, raw_preview, utc_from_timestamp
from dedup.readers.stream import Chunks

# One array element, or a whole file that is not an array (a listing page, a cassette). A real API
# page of 500 comments is ~1.5 MB and the sample cassette 2.4 MB; beyond this a value is skipped.
MAX_JSON_VALUE_BYTES = 32 * 1024 * 1024
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
    """A whole-file JSON document: API listing, recorded cassette, or an array of pairs/comments.

    Streamed (``json_values``): an array element by element, anything else as one value, each up to
    ``MAX_JSON_VALUE_BYTES``, so memory stays bounded however large the file inflates.
    """
    seen: set[str] = set()
    for item in json_values(chunks, MAX_JSON_VALUE_BYTES):
        where = "file" if getattr(item, "index", None) is None else f"element {item.index}"
        if isinstance(item, JsonValue):
            yield from _value_events(item, where, seen)
        elif isinstance(item, JsonTooLarge):
            detail = f"{item.size} bytes > limit {MAX_JSON_VALUE_BYTES}"
            yield Quarantined.of(where, "record_too_large", detail, item.preview)
        elif isinstance(item, JsonCut):
            gap = item.gap
            reason, detail = (gap.reason, gap.detail) if gap else ("truncated_json", "the file ends")
            yield Quarantined.of(where, reason, f"{detail} inside the value", item.preview)
        elif isinstance(item, JsonGap):  # the cut fell between two elements: still a loss to count
            yield Quarantined.of(f"compressed byte {item.gap.offset}", item.gap.reason, item.gap.detail)


def _value_events(item: JsonValue, where: str, seen: set[str]) -> Iterator[Event]:
    try:
        item.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Quarantined.of(where, "invalid_utf8", str(exc), item.data)
        return
    try:
        value = orjson.loads(item.data)
    except orjson.JSONDecodeError as exc:  # also lone surrogates and nesting deeper than 1024
        yield Quarantined.of(where, "malformed_json", str(exc), item.data)
        return
    if item.index is not None and isinstance(value, dict) and "answer" in value:
        yield pair_document(value, item.index)
        return
    if not isinstance(value, dict | list):
        yield Quarantined.of(where, "not_an_object", type(value).__name__, item.data)
        return
    cassette = isinstance(value, dict) and "interactions" in value
    events = _read_cassette(value, seen) if cassette else _unique(_walk(value, where), seen)
    found = False
    for event in events:
        found = True
        yield event
    if not found and item.index is not None:
        yield Quarantined.of(where, "missing_field", "no Reddit comment, submission or pair in it", item.data)


def _read_cassette(cassette: dict, seen: set[str]) -> Iterator[Event]:
    """A recorded HTTP session (betamax/vcr): every response body that is a Reddit listing."""
    interactions = cassette.get("interactions")
    for number, interaction in enumerate(interactions if isinstance(interactions, list) else []):
        body = _field(interaction, "response", "body", "string")
        if not isinstance(body, str) or '"kind"' not in body:
            continue  # an OAuth token or another non-listing call: no records in it
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            yield Quarantined.of(f"interaction {number}", "malformed_json", str(exc), body.encode())
            continue
        yield from _unique(_walk(document, f"interaction {number}"), seen)


def _field(node: object, *keys: str) -> object:
    """``node[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _walk(root: object, where: str) -> Iterator[Event]:
    """Every comment/submission in a listing tree (``replies`` and ``morechildren`` included), in
    document order; iterative, so a reply chain as deep as the parser allows cannot overflow the stack."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("kind")
        data = node.get("data")
        if kind in ("t1", "t3") and isinstance(data, dict):
            yield thing_document({**data, "kind": kind}, where)
            stack.append(data.get("replies"))
        elif kind == "more":
            yield Skipped("more_stub")  # a "load more comments" placeholder, not a comment
        elif kind == "Listing" and isinstance(data, dict):
            stack.append(data.get("children"))
        elif isinstance(node.get("json"), dict):  # /api/morechildren answer
            stack.append(_field(node, "json", "data", "things"))
        elif "body" in node or "title" in node:
            yield thing_document(node, where)


def _unique(events: Iterator[Event], seen: set[str]) -> Iterator[Event]:
    """A comment fetched twice (page, then morechildren) is one record; the repeat is skipped."""
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
        return Quarantined.of(where, "missing_field", "no 'id'", raw_preview(record))
    wrong = [f for f in ("name", "title", "selftext", "body") if not isinstance(record.get(f) or "", str)]
    if wrong:
        kinds = ", ".join(f"{f} is {type(record[f]).__name__}" for f in wrong)
        return Quarantined.of(where, "bad_field", f"expected strings: {kinds}", raw_preview(record))
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
            return Quarantined.of(where, "missing_field", "comment without 'body'", raw_preview(record))
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
        position=where,
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
            f"element {index}", "missing_field", "no string 'answer'", raw_preview(element)
        )
    return Document(
        key=f"pair{index}",
        position=f"element {index}",
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

