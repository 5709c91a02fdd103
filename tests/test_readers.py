"""Each reader on its real sample file (../shared/data)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from dedup.readers import Document, Quarantined, Skipped, inflate_chunks, reader_for
from dedup.readers.warc import WarcParser, dechunk, decode_content_encoding


def read(data_root: Path, relative: str) -> list:
    reader = reader_for(relative)
    assert reader is not None, relative
    with open(data_root / relative, "rb") as raw:
        return list(reader.read(inflate_chunks(raw)))


def documents(events: list) -> list[Document]:
    return [e for e in events if isinstance(e, Document)]


def reasons(events: list) -> Counter:
    return Counter(e.reason for e in events if isinstance(e, Skipped | Quarantined))


@pytest.mark.parametrize(
    ("relative", "responses", "others"),
    [
        ("web/dolma_wget_warc/sample-0000.warc.gz", 22, 26),
        ("web/dolma_wget_warc/sample-0001.warc.gz", 15, 19),
        ("web/resiliparse_cc/CC-MAIN-2020-34-sample.warc.gz", 16, 34),
        ("web/warcio/example-iana.org-chunked.warc", 1, 2),
        ("web/warcio/example.warc.gz", 1, 5),
        ("web/whirlwind_cc/whirlwind.warc.gz", 1, 3),
        ("web/whirlwind_cc/whirlwind.warc.wet.gz", 1, 1),
    ],
)
def test_warc_reader_keeps_responses_and_conversions(data_root, relative, responses, others):
    events = read(data_root, relative)
    docs = documents(events)
    assert len(docs) == responses
    assert len(events) - len(docs) == others  # warcinfo, request, metadata, revisit, resource: skipped
    assert not [e for e in events if isinstance(e, Quarantined)]
    for doc in docs:
        assert doc.url and doc.url.startswith(("http://", "https://")), doc.url  # wget's ‹...> removed
        assert doc.created is not None
        assert doc.metadata["content_type"] in ("text/html", "text/plain")


def test_warc_reader_parses_http_and_detects_charsets(data_root):
    docs = documents(read(data_root, "web/resiliparse_cc/CC-MAIN-2020-34-sample.warc.gz"))
    charsets = Counter(d.metadata["charset"] for d in docs)
    assert charsets["cp1251"] == 1 and charsets["gb2312"] == 2
    russian = next(d for d in docs if d.metadata["charset"] == "cp1251")
    assert re.search("[а-яА-Я]{4}", russian.text)  # Cyrillic, not mojibake
    chinese = [d for d in docs if d.metadata["charset"] == "gb2312"]
    assert all(re.search("[\u4e00-\u9fff]{4}", d.text) for d in chinese)
    assert all(d.metadata["http_status"] == 200 for d in docs)
    assert all("<html" in d.text.lower() for d in docs)  # raw HTML kept: extraction happens in clean


def test_warc_reader_undoes_chunked_and_gzip_bodies(data_root):
    [chunked] = documents(read(data_root, "web/warcio/example-iana.org-chunked.warc"))
    assert chunked.text.lstrip().startswith("<!doctype html>") and chunked.text.rstrip().endswith("</html>")
    [gzipped] = documents(read(data_root, "web/warcio/example.warc.gz"))
    assert "Example Domain" in gzipped.text
    assert dechunk(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n") == b"Wikipedia"
    with pytest.raises(ValueError, match="unsupported"):
        decode_content_encoding(b"x", "br-unknown")


@pytest.mark.parametrize("chunk_size", [1024, 1 << 20])  # streamed past, or already in the buffer
def test_warc_records_over_the_size_limit_are_quarantined_not_loaded(data_root, chunk_size):
    with open(data_root / "web/warcio/example-iana.org-chunked.warc", "rb") as raw:
        events = list(WarcParser(inflate_chunks(raw, chunk_size=chunk_size), max_record_bytes=2000))
    assert [type(e).__name__ for e in events] == ["WarcRecord", "Quarantined", "WarcRecord"]
    assert events[1].reason == "record_too_large" and events[2].headers["warc-type"] == "request"


def test_wet_reader_keeps_plain_text_and_language(data_root):
    [doc] = documents(read(data_root, "web/whirlwind_cc/whirlwind.warc.wet.gz"))
    assert doc.url == "https://an.wikipedia.org/wiki/Escopete"
    assert doc.metadata["warc_type"] == "conversion" and doc.metadata["language"] == "spa"
    assert doc.text.startswith("Escopete - Biquipedia")


def test_cc_jsonl_reader_keeps_text_and_warc_url(data_root):
    events = read(data_root, "web/dolma_cc_2019_30/CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")
    docs = documents(events)
    assert len(events) == 697 and len(docs) == 697
    assert all(d.url and d.url.startswith("http") for d in docs)
    assert sum(1 for d in docs if not d.text.strip()) == 27  # empty texts: counted as skipped by ingest
    ccnet = documents(read(data_root, "web/dolma_cc_en_head/cc_en_head-0091.jsonl.gz"))
    assert len(ccnet) == 10 and all(d.title and d.metadata["language"] == "en" for d in ccnet)


def test_gutenberg_reader_strips_header_footer_bom_and_crlf(data_root):
    [book] = read(data_root, "books/gutenberg_full/books__11-0.txt")
    assert book.title == "Alice’s Adventures in Wonderland" and book.metadata["author"] == "Lewis Carroll"
    assert book.metadata["layout"] == "gutenberg_full" and book.metadata["footer_stripped"]
    assert "\r" not in book.text and not book.text.startswith("\ufeff")
    assert "PROJECT GUTENBERG" not in book.text.upper()
    assert book.text.startswith("ALICE’S ADVENTURES IN WONDERLAND")


def test_gutenberg_reader_handles_split_start_marker_and_stripped_books(data_root):
    [jekyll] = read(data_root, "books/gutenberg_full/books__43-0.txt")  # START marker over two lines
    assert "PROJECT GUTENBERG" not in jekyll.text.upper() and "Produced by" not in jekyll.text[:200]
    assert jekyll.title.startswith("The Strange Case")
    [emma] = read(data_root, "books/nltk_gutenberg/austen-emma.txt")  # header already stripped
    assert (emma.title, emma.metadata["author"], emma.metadata["layout"]) == (
        "Emma",
        "Jane Austen",
        "header_stripped",
    )
    assert emma.text.startswith("VOLUME I")


def test_reddit_cassette_reader_walks_listings_and_morechildren(data_root):
    events = read(data_root, "reddit/praw_cassettes/TestCommentForest.test_replace__all_large.json")
    docs = documents(events)
    kinds = Counter(d.metadata["kind"] for d in docs)
    assert kinds == {"t1": 1428, "t3": 1}  # README: 1 submission + 1,428 comments
    comments = [d for d in docs if d.metadata["kind"] == "t1"]
    assert all(d.metadata["link_id"] == "t3_n49rw" and d.metadata["parent_id"] for d in comments)
    names = {d.key for d in docs}
    assert all(d.metadata["parent_id"] in names for d in comments)  # every parent is in the thread
    assert reasons(events)["more_stub"] > 0


def test_reddit_jsonl_reader_matches_the_cassette(data_root):
    flat = documents(read(data_root, "reddit/reddit_announcements_n49rw_thread.jsonl"))
    cassette = documents(
        read(data_root, "reddit/praw_cassettes/TestCommentForest.test_replace__all_large.json")
    )
    assert {d.key for d in flat} == {d.key for d in cassette}
    first = next(d for d in flat if d.key == "t1_c364mzp")
    assert first.metadata["parent_id"] == "t3_n49rw" and first.created.year == 2011


def test_reddit_pairs_reader_reads_every_pair(data_root):
    folder = data_root / "reddit/leahrnh_reddit_pairs_2015-03-21"
    total = 0
    for path in sorted(folder.glob("*.json")):
        events = read(data_root, str(path.relative_to(data_root)))
        assert all(isinstance(e, Document) for e in events)
        total += len(events)
    assert total == 14760  # README: 14,760 comment→reply pairs
    [first, *_] = documents(read(data_root, "reddit/leahrnh_reddit_pairs_2015-03-21/News_2015-03-21.json"))
    assert (
        first.metadata["parent_text"].startswith("'Austin Powers'") and first.metadata["parent_id"] == "s8391"
    )


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("web/x/a.warc.gz", "warc"),
        ("web/x/a.warc.wet.gz", "warc"),
        ("web/x/a.jsonl.gz", "cc_jsonl"),
        ("web/x/a.warc.wat.gz", None),
        ("books/x/b.txt", "gutenberg"),
        ("books/x/README", None),
        ("reddit/c.jsonl", "reddit_jsonl"),
        ("reddit/x/c.json", "reddit_json"),
        ("reddit/x/README.md", None),
        ("emotion/goemotions/train.tsv", None),
    ],
)
def test_reader_is_chosen_by_source_folder_and_suffix(relative, expected):
    reader = reader_for(relative)
    assert (reader.format if reader else None) == expected
