"""WARC and WET reader (gzipped per record, gzipped whole, or plain), written for damaged input.

A record is ``WARC/1.x`` header lines, a blank line, ``Content-Length`` bytes and ``\\r\\n\\r\\n``.
When a record does not parse (bad header, wrong length, cut by a gzip gap) it is quarantined and
the parser skips to the next line starting with ``WARC/1.`` so the records after it still count.
Kept: HTTP ``response`` records with a text body (raw HTML plus its content type; extraction is the
cleaning step's job) and WET ``conversion`` records. Everything else is counted as skipped.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from dedup.readers.records import (
    Document,
    Event,
    Quarantined,
    Skipped,
    UndecodableText,
    decode_text,
    known_codec,
    sniff_html_charset,
    utc_from_iso,
)
from dedup.readers.stream import PREVIEW_BYTES, Chunks, StreamError

MAX_HEADER_BYTES = 64 * 1024
MAX_RECORD_BYTES = 64 * 1024 * 1024
_RECORD_START = re.compile(rb"(?:^|\n)WARC/1\.[01]\r\n")
_TRAILER = b"\r\n\r\n"
_TEXT_MIME_PREFIXES = ("text/html", "application/xhtml", "text/plain", "text/xml", "application/xml")


@dataclass
class WarcRecord:
    index: int
    offset: int  # decompressed byte offset of the record's first header byte
    headers: dict[str, str]  # lower-cased names
    block: bytes


class WarcParser:
    """Split a decompressed chunk stream into ``WarcRecord``s, quarantining what does not parse."""

    def __init__(self, chunks: Chunks, max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self._chunks = iter(chunks)
        self._buf = bytearray()
        self._pos = 0
        self._base = 0  # stream offset of _buf[0]
        self._gap: StreamError | None = None
        self._eof = False
        self._max_record_bytes = max_record_bytes
        self._index = 0
        self._resync_needed = False  # the last record was bad: its tail is skipped without a 2nd entry

    # -- buffer -------------------------------------------------------------------------------------
    def _fill(self) -> bool:
        """Pull one chunk; False at end of input or at a gap (then ``_gap`` is set)."""
        if self._eof or self._gap:
            return False
        for item in self._chunks:
            if isinstance(item, StreamError):
                self._gap = item
                return False
            if item:
                self._buf += item
                return True
        self._eof = True
        return False

    def _ensure(self, n: int) -> bool:
        while len(self._buf) - self._pos < n:
            if not self._fill():
                return False
        return True

    def _compact(self, force: bool = False) -> None:
        # Dropping consumed bytes moves the rest of the buffer: do it once they make up half of it.
        if self._pos and (force or self._pos * 2 >= len(self._buf)):
            del self._buf[: self._pos]
            self._base += self._pos
            self._pos = 0

    def _offset(self) -> int:
        return self._base + self._pos

    # -- records ------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[WarcRecord | Quarantined]:
        skip_silently = False  # the bytes up to the next header belong to a record already quarantined
        while True:
            self._compact()
            if not self._skip_blank_lines():
                if self._gap:
                    yield self._quarantine_gap(self._buf[self._pos :])
                    skip_silently = True
                    continue
                return
            if not self._buf.startswith(b"WARC/", self._pos):
                garbage = self._skip_to_next_record()
                if not skip_silently:
                    yield Quarantined.of(
                        f"byte {garbage[0]}",
                        "corrupt_warc_record",
                        "bytes that are not a WARC record",
                        garbage[1],
                    )
                skip_silently = False
                continue
            skip_silently = False
            yield from self._read_record()
            if self._gap is not None or self._resync_needed:
                skip_silently = True

    def _skip_blank_lines(self) -> bool:
        """Move past CR/LF between records; False when nothing is left (end of input or a gap)."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in b"\r\n":
                self._pos += 1
            if self._pos < len(self._buf):
                return True
            if not self._fill():
                return False

    def _skip_to_next_record(self) -> tuple[int, bytes]:
        """Discard bytes up to the next line starting with ``WARC/1.``; returns (offset, preview)."""
        start = self._offset()
        preview = bytes(self._buf[self._pos : self._pos + PREVIEW_BYTES])
        search_from = self._pos + 1
        while True:
            match = _RECORD_START.search(self._buf, search_from)
            if match:
                self._pos = match.start() + (1 if self._buf[match.start()] == 0x0A else 0)
                return start, preview
            # keep a short tail: the next header may straddle two chunks
            search_from = max(self._pos + 1, len(self._buf) - 16)
            self._pos = search_from - 1
            self._compact(force=True)
            search_from = 1
            if not self._fill():
                self._pos = len(self._buf)
                return start, preview

    def _quarantine_gap(self, partial: bytes | bytearray) -> Quarantined:
        gap = self._gap
        assert gap is not None
        self._gap = None
        self._buf.clear()
        self._pos = 0
        return Quarantined.of(f"compressed byte {gap.offset}", gap.reason, gap.detail, bytes(partial))

    def _read_record(self) -> Iterator[WarcRecord | Quarantined]:
        self._resync_needed = False
        start = self._pos
        offset = self._offset()
        header_end = -1
        while header_end < 0:
            header_end = self._buf.find(b"\r\n\r\n", start)
            if header_end >= 0:
                break
            if len(self._buf) - start > MAX_HEADER_BYTES:
                yield self._bad_record(start, offset, "corrupt_warc_record", "WARC header never ends")
                return
            if not self._fill():
                yield from self._cut(start, offset, "the WARC header")
                return
        headers = _parse_headers(bytes(self._buf[start:header_end]))
        try:
            length = int(headers["content-length"])
            if length < 0:
                raise ValueError(length)
        except (KeyError, ValueError):
            yield self._bad_record(start, offset, "corrupt_warc_record", "missing or invalid Content-Length")
            return
        block_start = header_end + 4
        if length > self._max_record_bytes:
            yield from self._skip_large_record(start, offset, block_start, length)
            return
        if not self._ensure(block_start - self._pos + length + len(_TRAILER)):
            complete = self._eof and not self._gap and len(self._buf) - block_start >= length
            if not complete:  # the last record may lack its trailing CRLFs; anything else is cut short
                if self._eof and not self._gap and _RECORD_START.search(self._buf, block_start):
                    # Another record starts inside the claimed block: the Content-Length is wrong.
                    yield self._bad_record(
                        start, offset, "corrupt_warc_record", "Content-Length runs past EOF"
                    )
                else:
                    yield from self._cut(start, offset, "the record block")
                return
        block_end = block_start + length
        trailer = bytes(self._buf[block_end : block_end + len(_TRAILER)])
        if trailer != _TRAILER and not (self._eof and trailer.strip(b"\r\n") == b""):
            yield self._bad_record(
                start, offset, "corrupt_warc_record", "the record does not end where Content-Length says"
            )
            return
        self._pos = min(block_end + len(_TRAILER), len(self._buf))
        record = WarcRecord(self._index, offset, headers, bytes(self._buf[block_start:block_end]))
        self._index += 1
        yield record

    def _bad_record(self, start: int, offset: int, reason: str, detail: str) -> Quarantined:
        """Quarantine the record at ``start`` and resume the search for a header just after it."""
        self._index += 1
        preview = bytes(self._buf[start : start + PREVIEW_BYTES])
        self._pos = start + 1
        self._resync_needed = True
        return Quarantined.of(f"byte {offset}", reason, detail, preview)

    def _cut(self, start: int, offset: int, where: str) -> Iterator[Quarantined]:
        """The input ended (or hit a gzip gap) inside a record."""
        self._index += 1
        partial = bytes(self._buf[start : start + PREVIEW_BYTES])
        if self._gap:
            gap = self._quarantine_gap(partial)
            yield Quarantined.of(f"byte {offset}", gap.reason, f"{gap.detail}; cut inside {where}", partial)
        else:
            self._pos = len(self._buf)
            yield Quarantined.of(f"byte {offset}", "truncated_record", f"input ends inside {where}", partial)

    def _skip_large_record(
        self, start: int, offset: int, block_start: int, length: int
    ) -> Iterator[Quarantined]:
        """Quarantine a record over the size limit, streaming past its block without keeping it."""
        preview = bytes(self._buf[start : start + PREVIEW_BYTES])
        end = block_start + length + len(_TRAILER)
        remaining = end - len(self._buf)
        self._pos = min(end, len(self._buf))
        while remaining > 0 and self._fill():
            self._compact(force=True)
            take = min(remaining, len(self._buf))
            remaining -= take
            self._pos = take
        self._index += 1
        yield Quarantined.of(
            f"byte {offset}", "record_too_large", f"{length} bytes > limit {self._max_record_bytes}", preview
        )
        if remaining > 0 and self._gap:
            # The gap fell inside the record just quarantined: drop it, and skip to the next header.
            self._quarantine_gap(b"")
            self._resync_needed = True


def _parse_headers(raw: bytes) -> dict[str, str]:
    """``Name: value`` lines (the first line is the version/status line) with lower-cased names."""
    headers: dict[str, str] = {}
    lines = raw.decode("utf-8", "replace").split("\r\n")
    headers[":first"] = lines[0]
    name = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and name:  # obsolete folded continuation line
            headers[name] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            name = name.strip().lower()
            headers[name] = value.strip()
    return headers


def read_warc(chunks: Chunks) -> Iterator[Event]:
    """Read a WARC or WET stream: one event per WARC record."""
    for item in WarcParser(chunks):
        yield item if isinstance(item, Quarantined) else record_to_event(item)


def record_to_event(record: WarcRecord) -> Event:
    """Turn one parsed WARC record into a kept document, a skip, or a quarantine entry."""
    warc_type = record.headers.get("warc-type", "").lower()
    if warc_type == "response":
        return _response_event(record)
    if warc_type == "conversion":
        return _text_event(record, record.block, "text/plain", "utf-8", {})
    return Skipped(f"warc_type:{warc_type or 'missing'}")


def _response_event(record: WarcRecord) -> Event:
    if "application/http" not in record.headers.get("content-type", "application/http").lower():
        return Skipped("not_http")  # dns:, whois:, ... responses
    http_end = record.block.find(b"\r\n\r\n")
    if not record.block.startswith(b"HTTP/") or http_end < 0:
        return Quarantined.of(
            f"byte {record.offset}", "bad_http_response", "no HTTP status line", record.block
        )
    http = _parse_headers(record.block[:http_end])
    status = http[":first"].split(" ", 2)
    code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    if not 200 <= code < 300:
        return Skipped(f"http_status:{code // 100}xx")
    body = record.block[http_end + 4 :]
    if "chunked" in http.get("transfer-encoding", "").lower():
        body = dechunk(body)
    try:
        body = decode_content_encoding(body, http.get("content-encoding", ""))
    except ValueError as exc:
        return Quarantined.of(f"byte {record.offset}", "bad_content_encoding", str(exc), body)
    content_type = http.get("content-type", "")
    mime = content_type.split(";")[0].strip().lower() or ("text/html" if body.lstrip()[:1] == b"<" else "")
    if not mime.startswith(_TEXT_MIME_PREFIXES):
        return Skipped("non_text_content")
    charset_match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    declared = known_codec(charset_match.group(1)) if charset_match else None
    if declared is None and "html" in mime:
        declared = sniff_html_charset(body)
    return _text_event(record, body, mime, declared, {"http_status": code})


def _text_event(record: WarcRecord, payload: bytes, mime: str, declared: str | None, extra: dict) -> Event:
    if not payload.strip():
        return Skipped("empty_payload")
    try:
        text, encoding, replaced = decode_text(payload, declared)
    except UndecodableText as exc:
        return Quarantined.of(f"byte {record.offset}", "undecodable_text", str(exc), payload)
    headers = record.headers
    metadata = {
        "format": "warc",
        "warc_type": headers.get("warc-type"),
        "warc_record_id": headers.get("warc-record-id"),
        "content_type": mime,
        "charset": encoding,
        **extra,
    }
    if headers.get("warc-identified-content-language"):
        metadata["language"] = headers["warc-identified-content-language"]
    if headers.get("warc-truncated"):
        metadata["truncated"] = headers["warc-truncated"]
    return Document(
        key=str(record.index),
        text=text,
        url=_clean_uri(headers.get("warc-target-uri")),
        created=utc_from_iso(headers.get("warc-date")),
        metadata=metadata,
        replaced_bytes=replaced,
    )


def _clean_uri(uri: str | None) -> str | None:
    """WARC/1.0 writers wrap URIs in ``<...>`` (wget: ``‹...>``); the URL is what is inside."""
    if not uri:
        return None
    return uri.strip().lstrip("<‹").rstrip(">›") or None


def dechunk(body: bytes) -> bytes:
    """Undo HTTP chunked transfer encoding; a body that is not validly chunked is returned as is."""
    out = bytearray()
    pos = 0
    while True:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            return body
        size_text = body[pos:line_end].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return body
        if size == 0:
            return bytes(out)
        start = line_end + 2
        if start + size > len(body):
            out += body[start:]  # a truncated last chunk: keep what arrived
            return bytes(out)
        out += body[start : start + size]
        pos = start + size + 2


def decode_content_encoding(body: bytes, encoding: str) -> bytes:
    """Undo gzip/deflate content encoding; raise ValueError for a corrupt or unsupported one."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        for wbits in (47, -15):  # 47: gzip or zlib header, auto-detected; -15: raw deflate
            try:
                return zlib.decompressobj(wbits=wbits).decompress(body)
            except zlib.error:
                continue
        raise ValueError(f"body is not valid {encoding}")
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")
