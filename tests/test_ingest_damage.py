"""Damaged copies of the real samples: the run never stops, good records around the damage survive,
every bad record lands in the quarantine file with its reason, and records in = kept + skipped +
quarantined for every reader."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dedup.ingest import IngestResult, ingest_file
from foundation.settings import Settings

TEN_MB = 10 * 1024 * 1024
WARC_GZ = "web/resiliparse_cc/CC-MAIN-2020-34-sample.warc.gz"
WARC_PLAIN = "web/warcio/example-iana.org-chunked.warc"
CC_JSONL = "web/dolma_cc_2019_30/CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
BOOK = "books/gutenberg_full/books__11-0.txt"
REDDIT_JSONL = "reddit/reddit_announcements_n49rw_thread.jsonl"
PAIRS = "reddit/leahrnh_reddit_pairs_2015-03-21/compsci_2015-03-21.json"
CASSETTE = "reddit/praw_cassettes/TestCommentForest.test_replace__all_large.json"


def put(root: Path, relative: str, data: bytes) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return relative


def ingest(relative: str) -> tuple[IngestResult, list[dict], list[dict]]:
    """Ingest into the test's artifacts; returns (result, kept rows, quarantine rows)."""
    result = ingest_file(Settings.from_env(), relative)
    assert result.balanced, result
    kept = pq.read_table(result.shard).to_pylist()
    quarantine = pq.read_table(result.quarantine_file).to_pylist() if result.quarantine_file else []
    assert len(kept) == result.kept
    assert len(quarantine) == sum(result.quarantined.values())
    assert {q["reason"] for q in quarantine} == set(result.quarantined)
    assert all(row["input_sha256"] == result.input_sha256 for row in kept + quarantine)
    return result, kept, quarantine


def original(data_root: Path, damaged_root: Path, relative: str) -> IngestResult:
    shutil.copy(data_root / relative, damaged_root / put(damaged_root, relative, b""))
    return ingest(relative)[0]


def test_truncated_gzip_keeps_every_complete_record_before_the_cut(data_root, damaged_root):
    shutil.copy(data_root / CC_JSONL, damaged_root / put(damaged_root, CC_JSONL, b""))
    _, full, _ = ingest(CC_JSONL)
    data = (data_root / CC_JSONL).read_bytes()
    relative = put(damaged_root, CC_JSONL.replace(".jsonl.gz", "-cut.jsonl.gz"), data[: len(data) * 6 // 10])
    result, kept, quarantine = ingest(relative)
    assert result.quarantined == {"truncated_gzip": 1}
    assert 0.4 * len(full) < result.kept < len(full)
    # exactly the documents before the cut, in order
    assert [row["content_hash"] for row in kept] == [row["content_hash"] for row in full[: len(kept)]]
    assert quarantine[0]["raw"]  # the partial last line is kept for inspection


def test_truncated_per_record_warc_gzip_keeps_the_records_before(data_root, damaged_root):
    full = original(data_root, damaged_root, WARC_GZ)
    data = (data_root / WARC_GZ).read_bytes()
    result, kept, _ = ingest(put(damaged_root, "web/cut/cut.warc.gz", data[: len(data) // 2]))
    assert result.quarantined == {"truncated_gzip": 1}
    assert 0 < result.kept < full.kept
    assert all(row["text"] for row in kept)


def test_corrupt_gzip_member_loses_only_its_record(data_root, damaged_root):
    full = original(data_root, damaged_root, WARC_GZ)
    data = bytearray((data_root / WARC_GZ).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\x00" * 64  # wipe part of one member's deflate stream
    result, _, quarantine = ingest(put(damaged_root, "web/bad/corrupt.warc.gz", bytes(data)))
    assert set(result.quarantined) <= {"corrupt_gzip", "corrupt_warc_record"}
    assert result.quarantined.get("corrupt_gzip") == 1
    assert full.kept - 2 <= result.kept <= full.kept  # the damaged record (and at most one neighbour) lost
    assert "gzip member" in quarantine[0]["detail"]  # names where the damage is


def test_corrupt_warc_record_is_quarantined_and_parsing_resumes(data_root, damaged_root):
    data = (data_root / WARC_PLAIN).read_bytes()
    second = data.index(b"WARC/1.0", 10)
    # A wrong Content-Length in the second record, and garbage between records.
    damaged = (
        data[:second]
        + b"garbage that is not a record\r\n"
        + data[second:].replace(b"Content-Length: ", b"Content-Length: 9", 1)
    )
    result, kept, quarantine = ingest(put(damaged_root, "web/bad/corrupt.warc", damaged))
    assert result.quarantined == {"corrupt_warc_record": 2}
    assert result.records_in == 3 + 1  # 3 real records + the garbage run
    assert result.kept + result.skipped.get("warc_type:request", 0) >= 1
    assert {q["position"].split()[0] for q in quarantine} == {"byte"}


def test_invalid_utf8_line_is_quarantined_neighbours_kept(data_root, damaged_root):
    lines = (data_root / REDDIT_JSONL).read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b'"body": "', b'"body": "\xff\xfe', 1)
    result, kept, quarantine = ingest(put(damaged_root, "reddit/bad-utf8.jsonl", b"\n".join(lines)))
    assert result.quarantined == {"invalid_utf8": 1}
    assert result.kept == 1428 and quarantine[0]["position"] == "line 6"
    assert b"\xff\xfe" in quarantine[0]["raw"]


def test_invalid_utf8_in_a_json_array_element(data_root, damaged_root):
    data = (data_root / PAIRS).read_bytes()
    third = data.index(b'"answer": "', data.index(b'"answer": "', data.index(b'"answer": "') + 1) + 1)
    damaged = data[: third + 11] + b"\xc3\x28" + data[third + 11 :]
    result, _, _ = ingest(put(damaged_root, "reddit/bad/utf8.json", damaged))
    assert result.quarantined == {"invalid_utf8": 1} and result.kept == 101


def test_invalid_utf8_in_text_is_repaired_and_counted(data_root, damaged_root):
    data = bytearray((data_root / BOOK).read_bytes())
    data[50_000:50_003] = b"\xff\xfe\xfd"
    result, [book], _ = ingest(put(damaged_root, "books/bad/utf8.txt", bytes(data)))
    assert result.replaced_bytes == 3 and json.loads(book["metadata"])["replaced_bytes"] == 3
    assert "\ufffd" in book["text"] and book["title"].startswith("Alice")


def test_malformed_json_line_is_quarantined(data_root, damaged_root):
    data = gzip.decompress((data_root / CC_JSONL).read_bytes()).split(b"\n")
    data[10] = data[10][: len(data[10]) // 2]  # a line cut in half
    data.insert(20, b'["an array, not an object"]')
    result, _, quarantine = ingest(put(damaged_root, "web/bad/malformed.jsonl", b"\n".join(data)))
    assert result.quarantined == {"malformed_json": 1, "not_an_object": 1}
    assert result.records_in == 698 and result.kept == 670 - 1
    assert {q["position"] for q in quarantine} == {"line 11", "line 21"}


def test_reddit_pairs_starting_with_bracket_comma_and_cut_short(data_root, damaged_root):
    data = (data_root / PAIRS).read_bytes()
    assert data.startswith(b"[{")
    result, _, _ = ingest(put(damaged_root, "reddit/bad/leading-comma.json", b"[," + data[1:]))
    assert result.kept == 102 and not result.quarantined
    result, _, _ = ingest(put(damaged_root, "reddit/bad/cut.json", b"[," + data[1 : len(data) // 2]))
    assert result.quarantined == {"truncated_json": 1} and 40 < result.kept < 60
    broken = data.replace(b'{"docID"', b'{"docID" oops', 1)
    result, _, _ = ingest(put(damaged_root, "reddit/bad/broken.json", broken))
    assert result.quarantined == {"malformed_json": 1} and result.kept == 101


def test_malformed_cassette_interaction(data_root, damaged_root):
    cassette = json.loads((data_root / CASSETTE).read_bytes())
    body = cassette["interactions"][2]["response"]["body"]
    body["string"] = body["string"][: len(body["string"]) // 2]
    result, _, _ = ingest(put(damaged_root, "reddit/bad/cassette.json", json.dumps(cassette).encode()))
    assert result.quarantined == {"malformed_json": 1}
    assert 1300 < result.kept < 1429


@pytest.mark.parametrize(
    "relative", ["web/empty/a.warc.gz", "web/empty/b.jsonl", "books/empty/c.txt", "reddit/d.json"]
)
def test_empty_file(damaged_root, relative):
    result, kept, quarantine = ingest(put(damaged_root, relative, b""))
    assert result.quarantined == {"empty_file": 1} and result.kept == 0 and kept == []


def test_ten_megabyte_line_in_jsonl(data_root, damaged_root):
    lines = (data_root / REDDIT_JSONL).read_bytes().split(b"\n")
    lines.insert(100, b'{"body": "' + b"x" * TEN_MB + b'"}')
    result, _, quarantine = ingest(put(damaged_root, "reddit/long.jsonl", b"\n".join(lines)))
    assert result.quarantined == {"line_too_long": 1} and result.kept == 1429
    assert quarantine[0]["position"] == "line 101" and len(quarantine[0]["raw"]) <= 2048


def test_ten_megabyte_line_between_warc_records(data_root, damaged_root):
    data = (data_root / WARC_PLAIN).read_bytes()
    second = data.index(b"WARC/1.0", 10)
    damaged = data[:second] + b"y" * TEN_MB + b"\r\n" + data[second:]
    result, _, _ = ingest(put(damaged_root, "web/long/long.warc", damaged))
    assert result.quarantined == {"corrupt_warc_record": 1} and result.kept == 1


def test_ten_megabyte_line_in_a_book_keeps_the_book(data_root, damaged_root):
    data = (data_root / BOOK).read_bytes()
    result, [book], _ = ingest(
        put(damaged_root, "books/long/long.txt", data[:40_000] + b"z" * TEN_MB + data[40_000:])
    )
    assert result.kept == 1 and not result.quarantined and len(book["text"]) > TEN_MB


def test_truncated_gzip_of_a_json_array(data_root, damaged_root):
    packed = gzip.compress((data_root / PAIRS).read_bytes())
    result, _, quarantine = ingest(put(damaged_root, "reddit/cut/pairs.json.gz", packed[: len(packed) // 2]))
    assert result.quarantined == {"truncated_gzip": 1} and 30 < result.kept < 80
    assert quarantine[0]["position"].startswith("element ")
