"""Byte streams under every reader: transparent, damage-tolerant gzip and bounded line splitting.

Python's ``gzip`` module raises on the first corrupt or truncated member and drops what it had
buffered. Here decompression runs member by member with ``zlib``: a bad member becomes a
``StreamError`` in the chunk stream (the readers quarantine the record it cut), and reading resumes
at the next gzip member, so the good records around the damage survive.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b\x08"
CHUNK_SIZE = 1 << 20
# Compressed bytes fed to zlib at a time. Small on purpose: when a gzip member ends, zlib hands back
# the rest of the feed as a new bytes object, so a 1 MiB feed would copy ~1 MiB per WARC record.
GZIP_FEED_SIZE = 64 * 1024
PREVIEW_BYTES = 2048  # how much of a bad record the quarantine keeps


@dataclass(frozen=True)
class StreamError:
    """A gap in the decompressed stream: the bytes around ``offset`` (compressed) could not be read."""

    reason: str  # truncated_gzip | corrupt_gzip
    offset: int
    detail: str


Chunks = Iterable[bytes | StreamError]


def inflate_chunks(raw: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes | StreamError]:
    """Yield the decompressed bytes of ``raw`` (gzip, multi-member or not; or plain), with gaps marked."""
    head = raw.read(GZIP_FEED_SIZE)
    if not head.startswith(GZIP_MAGIC):
        while head:
            yield head
            head = raw.read(chunk_size)
        return
    yield from _inflate_members(raw, head, GZIP_FEED_SIZE)


def _inflate_members(raw: BinaryIO, pending: bytes, chunk_size: int) -> Iterator[bytes | StreamError]:
    offset = 0  # compressed offset of pending[0]
    inflater = zlib.decompressobj(wbits=31)
    member_fed = False  # bytes of the current member went into the inflater
    resyncing = False  # after an error: skipping to the next gzip magic
    reported = False  # one StreamError per damaged stretch, not one per false magic inside it
    while True:
        if not pending:
            pending = raw.read(chunk_size)
            if not pending:
                break
        if resyncing:
            found = pending.find(GZIP_MAGIC)
            if found < 0:
                keep = len(GZIP_MAGIC) - 1  # the magic may straddle two reads
                offset += max(len(pending) - keep, 0)
                pending = pending[-keep:] if len(pending) > keep else pending
                more = raw.read(chunk_size)
                if not more:
                    break
                pending += more
                continue
            offset += found
            pending = pending[found:]
            resyncing = False
        if not member_fed:
            # Some writers pad the end of a file (or between members) with NULs or newlines.
            stripped = pending.lstrip(b"\x00\r\n ")
            offset += len(pending) - len(stripped)
            pending = stripped
            if not pending:
                continue
        try:
            out = inflater.decompress(pending)
        except zlib.error as exc:
            if not reported:
                yield StreamError("corrupt_gzip", offset, f"{exc} (in the gzip member before byte {offset})")
                reported = True
            inflater, member_fed, resyncing = zlib.decompressobj(wbits=31), False, True
            pending, offset = pending[1:], offset + 1
            continue
        member_fed = True
        if out:
            reported = False
            yield out
        if inflater.eof:
            rest = inflater.unused_data
            offset += len(pending) - len(rest)
            pending = rest
            inflater, member_fed = zlib.decompressobj(wbits=31), False
            continue
        offset += len(pending)
        pending = b""
    if member_fed and not inflater.eof:
        tail = inflater.flush()
        if tail:
            yield tail
        yield StreamError(
            "truncated_gzip", offset, "the input ends inside a gzip member (truncated download?)"
        )


@dataclass(frozen=True)
class Line:
    number: int  # 1-based
    data: bytes  # without the line break


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str  # line_too_long | truncated_gzip | corrupt_gzip
    detail: str
    preview: bytes


def split_lines(chunks: Chunks, max_line_bytes: int) -> Iterator[Line | BadLine]:
    """Split a chunk stream into lines; an over-long line or one cut by a gap comes out as ``BadLine``."""
    buffer = bytearray()
    number = 1
    overflow = 0  # bytes of the current over-long line dropped so far
    preview = b""
    for chunk in chunks:
        if isinstance(chunk, StreamError):
            if buffer or overflow:
                yield BadLine(number, chunk.reason, chunk.detail, bytes(preview or buffer[:PREVIEW_BYTES]))
                number += 1
            else:
                yield BadLine(number, chunk.reason, chunk.detail, b"")
            buffer.clear()
            overflow, preview = 0, b""
            continue
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if overflow:
                overflow += len(piece)
            elif len(buffer) + len(piece) > max_line_bytes:
                preview = bytes((buffer + piece)[:PREVIEW_BYTES])
                overflow = len(buffer) + len(piece)
                buffer.clear()
            else:
                buffer += piece
            if end < 0:
                break
            if overflow:
                yield BadLine(number, "line_too_long", f"{overflow} bytes > limit {max_line_bytes}", preview)
                overflow, preview = 0, b""
            else:
                yield Line(number, bytes(buffer.rstrip(b"\r")))
                buffer.clear()
            number += 1
            start = end + 1
    if overflow:
        yield BadLine(number, "line_too_long", f"{overflow} bytes > limit {max_line_bytes}", preview)
    elif buffer:
        yield Line(number, bytes(buffer.rstrip(b"\r")))


def read_all(chunks: Chunks, max_bytes: int) -> tuple[bytes, StreamError | None, bool]:
    """Concatenate a chunk stream (whole-file formats) up to its first gap.

    Returns (data, the gap or None, whether the data went over ``max_bytes``; then ``data`` is only
    the first PREVIEW_BYTES, and the rest is never joined). Bytes after a gap are not appended:
    joined across a hole they would make a record that never existed.
    """
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        if isinstance(chunk, StreamError):
            return b"".join(parts), chunk, False
        size += len(chunk)
        if size > max_bytes:
            return (parts[0] if parts else chunk)[:PREVIEW_BYTES], None, True
        parts.append(chunk)
    return b"".join(parts), None, False
