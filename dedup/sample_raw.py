"""DOCUMENT_SCHEMA shards made straight from the sample files, for tests and benchmarks.

The ingest layer (``raw_*`` assets) is the real producer of raw shards; this module writes the
same schema from a few sample folders so the cleaning and dedup pipelines can be exercised and
measured on their own. Records follow the raw contract: web HTML stays in the text with its
content type in the metadata JSON, Reddit comments keep parent_id/link_id/author/score.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from dedup.atomic import write_parquet_atomic
from dedup.schema import DOCUMENT_SCHEMA, text_hash

WEB_JSONL = ("web/dolma_cc_2019_30", "web/dolma_cc_en_head")
WEB_WARC = ("web/dolma_wget_warc", "web/resiliparse_cc")
BOOK_DIRS = ("books/nltk_gutenberg", "books/gutenberg_full")
REDDIT_THREAD = "reddit/reddit_announcements_n49rw_thread.jsonl"
REDDIT_PAIRS = "reddit/leahrnh_reddit_pairs_2015-03-21"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(source: str, rel: str, key: str, text: str, sha: str, **fields) -> dict:
    metadata = fields.pop("metadata", {})
    return {
        "id": f"{source}/{rel}#{key}",
        "source": source,
        "source_file": rel,
        "url": fields.get("url"),
        "title": fields.get("title"),
        "text": text,
        "created": fields.get("created"),
        "metadata": json.dumps(metadata, ensure_ascii=False),
        "content_hash": text_hash(text),
        "input_sha256": sha,
    }


def _web_jsonl(root: Path, rel: str, sha: str) -> Iterator[dict]:
    with gzip.open(root / rel, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            row = json.loads(line)
            meta = row.get("metadata") or {}
            if isinstance(meta, str):  # dolma stores a Python repr
                import ast

                meta = ast.literal_eval(meta)
            url = meta.get("warc_url") or (row["id"] if str(row["id"]).startswith("http") else None)
            yield _record(
                "web", rel, str(number), row["text"], sha, url=url, metadata={"content_type": "text/plain"}
            )


def _web_warc(root: Path, rel: str, sha: str) -> Iterator[dict]:
    from warcio.archiveiterator import ArchiveIterator

    with open(root / rel, "rb") as stream:
        for number, record in enumerate(ArchiveIterator(stream)):
            if record.rec_type != "response" or not record.http_headers:
                continue
            content_type = record.http_headers.get_header("Content-Type") or ""
            if "html" not in content_type:
                continue
            html = record.content_stream().read().decode("utf-8", errors="replace")
            url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>‹›")
            yield _record(
                "web", rel, str(number), html, sha, url=url, metadata={"content_type": content_type}
            )


def _book(root: Path, rel: str, sha: str) -> Iterator[dict]:
    text = (root / rel).read_bytes().decode("utf-8", errors="replace")
    yield _record("books", rel, Path(rel).stem, text, sha)


def _reddit_thread(root: Path, rel: str, sha: str) -> Iterator[dict]:
    for line in (root / rel).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text = row.get("body") or "\n\n".join(filter(None, [row.get("title"), row.get("selftext")]))
        created = (
            datetime.fromtimestamp(float(row["created_utc"]), tz=UTC) if row.get("created_utc") else None
        )
        meta = {
            k: row.get(k) for k in ("name", "parent_id", "link_id", "author", "score", "subreddit", "kind")
        }
        yield _record("reddit", rel, row["id"], text, sha, created=created, metadata=meta)


def _reddit_pairs(root: Path, rel: str, sha: str) -> Iterator[dict]:
    raw = (root / rel).read_text(encoding="utf-8").strip()
    rows = json.loads("[" + raw[2:] if raw.startswith("[,") else raw)
    seen: set[int] = set()
    for row in rows:
        for key, text, parent in (
            (row["qSentId"], row["question"], None),
            (row["aSentId"], row["answer"], row["qSentId"]),
        ):
            if key in seen:
                continue
            seen.add(key)
            meta = {
                "name": str(key),
                "parent_id": None if parent is None else str(parent),
                "subreddit": row["docID"],
            }
            yield _record("reddit", rel, str(key), text, sha, metadata=meta)


def write_sample_raw(
    data_root: Path, raw_dir: Path, max_books: int | None = None, max_pair_files: int | None = None
) -> dict[str, int]:
    """Writes ``raw_dir/<source>/<file>.parquet`` for the sample folders; returns records per source."""
    jobs: list[tuple[str, str, object]] = []
    for folder in WEB_JSONL:
        jobs += [
            ("web", str(p.relative_to(data_root)), _web_jsonl)
            for p in sorted((data_root / folder).glob("*.jsonl.gz"))
        ]
    for folder in WEB_WARC:
        jobs += [
            ("web", str(p.relative_to(data_root)), _web_warc)
            for p in sorted((data_root / folder).glob("*.warc.gz"))
        ]
    books = [p for folder in BOOK_DIRS for p in sorted((data_root / folder).glob("*.txt"))]
    jobs += [("books", str(p.relative_to(data_root)), _book) for p in books[:max_books]]
    jobs.append(("reddit", REDDIT_THREAD, _reddit_thread))
    pairs = sorted((data_root / REDDIT_PAIRS).glob("*.json"))
    jobs += [("reddit", str(p.relative_to(data_root)), _reddit_pairs) for p in pairs[:max_pair_files]]

    counts: dict[str, int] = {}
    for source, rel, reader in jobs:
        rows = list(reader(data_root, rel, _sha256(data_root / rel)))
        name = rel.replace("/", "__") + ".parquet"
        write_parquet_atomic(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), raw_dir / source / name)
        counts[source] = counts.get(source, 0) + len(rows)
    return counts
