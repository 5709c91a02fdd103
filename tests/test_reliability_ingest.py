"""Reliability of raw ingestion (README "Reliability"): bad values, lying lengths, compressed bombs
and killed runs. Each bad record is quarantined with a reason, the rest of the file is read, and
records in = kept + skipped + quarantined."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_damage import WARC_PLAIN, ingest, put

from dedup.ingest import BadRecord, document_row
from dedup.readers import Document, Quarantined, Skipped, reader_for
from dedup.schema import DOCUMENT_SCHEMA

MiB = 1024 * 1024


def warc_record(warc_type: str, block: bytes, length: int | None = None) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: http://x.example/\r\n"
        f"WARC-Date: 2020-01-01T00:00:00Z\r\nContent-Type: application/http;msgtype=response\r\n"
        f"Content-Length: {len(block) if length is None else length}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def http_page(n: int) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><p>page {n}</p></html>".encode()


# --- one bad value never fails the file -------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "bad"),
    [
        ("web/bad/title.jsonl", {"text": "fine", "title": 1}),
        ("reddit/bad/url.jsonl", {"id": "a", "body": "hi", "url": 5}),
        ("reddit/bad/title.jsonl", {"id": "c", "title": {"a": 1}}),
        ("reddit/bad/name.jsonl", {"id": "g", "body": "hi", "name": ["x"]}),
        ("reddit/bad/body.jsonl", {"id": "g", "body": "hi", "selftext": 3}),
    ],
)
def test_a_value_of_the_wrong_type_is_quarantined_and_the_file_goes_on(damaged_root, relative, bad):
    good = {"text": "fine"} if relative.startswith("web") else {"id": "b", "body": "ok"}
    data = b"\n".join(json.dumps(line).encode() for line in (bad, good, bad))
    result, _, quarantine = ingest(put(damaged_root, relative, data))
    assert (result.kept, result.quarantined) == (1, {"bad_field": 2})
    assert [q["position"] for q in quarantine] == ["line 1", "line 3"]
    assert "expected" in quarantine[0]["detail"]


def test_a_date_out_of_range_keeps_the_document_without_a_date(damaged_root):
    data = b"\n".join(
        [b'{"text": "late", "created": "9999-12-31T23:59:59-01:00"}',
         b'{"text": "early", "created": "0001-01-01T00:00:00+01:00"}']
    )
    result, rows, _ = ingest(put(damaged_root, "web/bad/date.jsonl", data))
    assert result.kept == 2 and [row["created"] for row in rows] == [None, None]


@pytest.mark.parametrize(
    ("relative", "data"),
    [
        ("web/bad/surrogate.jsonl", b'{"text": "a \\ud800 b"}\n{"text": "fine"}'),
        ("reddit/bad/surrogate.jsonl", b'{"id": "x", "body": "a \\ud800"}\n{"id": "y", "body": "ok"}'),
        ("reddit/bad/surrogate.json", b'[{"answer": "a \\udfff", "question": "q"}, {"answer": "ok"}]'),
    ],
)
def test_a_lone_surrogate_is_quarantined_in_every_json_format(damaged_root, relative, data):
    result, _, quarantine = ingest(put(damaged_root, relative, data))
    assert (result.kept, result.quarantined) == (1, {"malformed_json": 1})
    assert "surrogate" in quarantine[0]["detail"]


def test_a_reply_chain_deeper_than_the_parser_allows_is_quarantined(damaged_root):
    """Python's json raised RecursionError here (and the recursive walk could too): now the parser's
    depth limit quarantines the file, and a chain within the limit is read whole."""
    level = b'{"kind": "t1", "data": {"id": "x%d", "body": "deep", "replies": '
    deep = b"".join(level % n for n in range(600)) + b"null" + b"}}" * 600
    result, _, quarantine = ingest(put(damaged_root, "reddit/bad/deep.json", deep))
    assert (result.kept, result.quarantined) == (0, {"malformed_json": 1})
    assert "depth" in quarantine[0]["detail"]
    within = b"".join(level % n for n in range(500)) + b"null" + b"}}" * 500
    result, _, _ = ingest(put(damaged_root, "reddit/ok/deep.json", within))
    assert result.kept == 500


scalars = st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats(allow_nan=False)
scalars |= st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["id", "name", "body", "title", "selftext", "url", "permalink", "created_utc", "created", "text",
          "metadata", "parent_id", "link_id", "kind", "data", "replies", "answer", "question", "score"]
records = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_fuzz_every_json_reader_yields_storable_rows_or_reasons(record):
    """Any JSON object, through every JSON reader: an event per record, and every kept document converts
    to the document schema (no ArrowTypeError, OverflowError or UnicodeEncodeError)."""
    line = json.dumps(record).encode()
    listing = json.dumps({"kind": "Listing", "data": {"children": [{"kind": "t1", "data": record}]}}).encode()
    for relative, data in [
        ("web/f.jsonl", line),
        ("reddit/f.jsonl", line),
        ("reddit/f.json", b"[" + line + b"]"),
        ("reddit/g.json", line),
        ("reddit/h.json", listing),
    ]:
        reader = reader_for(relative)
        for event in reader.read([data]):
            assert isinstance(event, Document | Skipped | Quarantined)
            if isinstance(event, Document):
                try:
                    row = document_row(event, reader.source, relative, "0" * 64)
                except BadRecord:
                    continue
                pa.Table.from_pylist([row], schema=DOCUMENT_SCHEMA)


def test_an_error_about_the_file_itself_names_it(damaged_root):
    (damaged_root / "web" / "folder.jsonl").mkdir(parents=True)  # unreadable as a file
    with pytest.raises(OSError) as failed:
        ingest("web/folder.jsonl")
    assert "while ingesting web/folder.jsonl" in "\n".join(failed.value.__notes__)


# --- WARC: lying lengths and damaged headers -----------------------------------------------------------


def test_a_huge_content_length_resynchronises_on_the_next_record(damaged_root):
    records = [warc_record("response", http_page(n)) for n in range(10)]
    records[3] = warc_record("response", http_page(3), length=99_999_999_999)
    packed = gzip.compress(b"".join(records))
    result, rows, quarantine = ingest(put(damaged_root, "web/bad/huge-length.warc.gz", packed))
    assert result.records_in == 10 and result.kept == 9
    assert result.quarantined == {"record_too_large": 1}
    assert "next record" in quarantine[0]["detail"]
    assert [row["text"].count("page") for row in rows] == [1] * 9


def test_a_damaged_warc_type_is_quarantined_not_skipped(damaged_root):
    data = warc_record("response", http_page(0)) + warc_record("resp\x00nse", http_page(1)) + warc_record(
        "request", b"GET / HTTP/1.1\r\n\r\n"
    )
    result, _, quarantine = ingest(put(damaged_root, "web/bad/type.warc", data))
    assert (result.kept, result.skipped) == (1, {"warc_type:request": 1})
    assert result.quarantined == {"bad_warc_type": 1} and "resp\\x00nse" in quarantine[0]["detail"]


# --- killed runs ----------------------------------------------------------------------------------------


def test_temporaries_of_a_killed_run_are_removed_by_the_next(data_root, damaged_root, tmp_path):
    relative = put(damaged_root, "web/warcio/plain.warc", (data_root / WARC_PLAIN).read_bytes())
    result, _, _ = ingest(relative)
    shard = Path(result.shard)
    # What a run killed mid-write leaves: a temporary of a process that no longer exists.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    orphan = shard.with_name(f".{shard.name}.tmp-{int(dead.stdout)}-deadbeef")
    orphan.write_bytes(b"half a shard")
    live = shard.with_name(f".{shard.name}.tmp-{os.getpid()}-cafe")  # a writer that is still running
    live.write_bytes(b"being written")
    ingest(relative)
    assert not orphan.exists() and live.exists()


# --- compressed bombs: memory stays bounded whatever a file expands to ----------------------------------

BOMB_BYTES = 512 * MiB
RSS_GROWTH_LIMIT = 200 * MiB


def gzip_bomb(head: bytes, filler: bytes, tail: bytes) -> bytes:
    """``head``, then ``BOMB_BYTES`` of ``filler`` and ``tail``, as gzip members (made in milliseconds)."""
    block = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = block.compress(filler * (MiB // len(filler))) + block.flush()
    return gzip.compress(head) + member * (BOMB_BYTES // MiB) + gzip.compress(tail)


WARC_HEAD = b"WARC/1.0\r\nWARC-Type: response\r\nContent-Type: application/http\r\nContent-Length: %d\r\n\r\n"
# (head, filler repeated to BOMB_BYTES, tail, reason): what follows the bomb is still read
BOMBS = {
    "web/bomb/bomb.warc.gz": (
        WARC_HEAD % BOMB_BYTES, b"a", b"\r\n\r\n" + warc_record("response", http_page(1)), "record_too_large"
    ),
    "web/bomb/bomb.jsonl.gz": (b'{"text": "', b"a", b'"}\n{"text": "after the bomb"}\n', "line_too_long"),
    "books/bomb/bomb.txt.gz": (b"A book\n", b"all work and no play ", b"\nThe end.\n", "record_too_large"),
    "reddit/bomb/bomb.jsonl.gz": (
        b'{"id": "x", "body": "', b"a", b'"}\n{"id": "y", "body": "after"}\n', "line_too_long"
    ),
    "reddit/bomb/bomb.json.gz": (
        b'[{"answer": "', b"a", b'"}, {"answer": "after the bomb"}]', "record_too_large"
    ),
}
PEAK_RSS = """
import json, resource, sys
from dedup.ingest import ingest_file
from foundation.settings import Settings
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = ingest_file(Settings.from_env(), sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before, "kept": result.kept, "quarantined": result.quarantined,
                  "balanced": result.balanced}))
"""


@pytest.mark.parametrize("relative", list(BOMBS))
def test_a_compressed_bomb_is_read_in_bounded_memory(damaged_root, relative):
    """Peak RSS of the ingesting process (its own, so other jobs on the machine do not count) grows by
    less than RSS_GROWTH_LIMIT on a file that inflates to BOMB_BYTES."""
    head, filler, tail, reason = BOMBS[relative]
    packed = gzip_bomb(head, filler, tail)
    assert len(packed) < BOMB_BYTES // 200
    put(damaged_root, relative, packed)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, relative], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["balanced"] and report["growth_kib"] * 1024 < RSS_GROWTH_LIMIT, report
    assert report["quarantined"] == {reason: 1}
    assert report["kept"] == (0 if relative.startswith("books") else 1)
