"""A whole-file JSON document read in bounded memory: a top-level array comes out element by element,
anything else as one value, each at most ``max_bytes`` long.

Only string, escape and bracket boundaries are tracked (no parsing), so a byte scan finds where each
element ends; the caller parses each one (orjson). An element over the limit is skipped as it
streams past, keeping a preview, and the elements after it are still read: a 400 KB ``.json.gz``
that inflates to 400 MB costs megabytes, not gigabytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dedup.readers.stream import PREVIEW_BYTES, Chunks, StreamError

# Inside a container: everything up to the next bracket, skipping whole strings (with their escapes).
_SKIP = re.compile(rb'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)  # up to the closing quote (or a last \)
_SCALAR_END = re.compile(rb"[,\]\s]")
_SIGNIFICANT = re.compile(rb"[^\s,]")
_FIRST_BYTE = re.compile(rb"[^\s,\xef\xbb\xbf]")  # a UTF-8 byte order mark may come before the document
_OPENERS = b"[{"


@dataclass(frozen=True)
class JsonValue:
    index: int | None  # position in the top-level array; None for a document that is not an array
    data: bytes


@dataclass(frozen=True)
class JsonTooLarge:
    index: int | None
    size: int
    preview: bytes


@dataclass(frozen=True)
class JsonCut:
    """The input ended, or a gzip gap cut it, inside a value (``gap`` None: a plain end of input)."""

    index: int | None
    preview: bytes
    gap: StreamError | None


@dataclass(frozen=True)
class JsonGap:
    """A gzip gap between two elements: the rest of the file is lost, but no element was cut."""

    gap: StreamError


JsonEvent = JsonValue | JsonTooLarge | JsonCut | JsonGap


class _Scanner:
    """Where values start and end in a byte stream; ``feed`` takes one chunk at a time."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.is_array: bool | None = None  # unknown until the first significant byte
        self.done = False
        self.index = 0
        self._open = False  # inside a value
        self._depth = 0
        self._in_string = False
        self._escaped = False  # the previous chunk ended on a backslash inside a string
        self._scalar = False  # the value is a number or literal: it ends at a comma, bracket or space
        self._size = 0
        self._parts: list[bytes] = []
        self._preview = b""

    def feed(self, chunk: bytes) -> Iterator[JsonEvent]:
        pos = 0
        while pos < len(chunk) and not self.done:
            if self._open:
                begin = pos
            else:
                start = (_SIGNIFICANT if self.is_array is not None else _FIRST_BYTE).search(chunk, pos)
                if start is None:
                    return
                pos = start.start()
                if self.is_array is None:
                    self.is_array = chunk[pos] == ord("[")
                    if self.is_array:
                        pos += 1
                        continue
                elif chunk[pos] == ord("]"):
                    self.done = True  # the array's end; anything after it is not read
                    return
                self._start(chunk[pos])
                begin, pos = pos, pos + 1
            end = self._scan(chunk, pos)
            if end is None:
                self._take(chunk[begin:])
                return
            self._take(chunk[begin:end])
            yield self._finish()
            pos = end
            self.done = not self.is_array

    def end(self, gap: StreamError | None) -> Iterator[JsonEvent]:
        """The input ended (``gap`` None) or broke off at a gzip gap."""
        if self.done:
            return
        if self._open and self._scalar and not self.is_array and gap is None:
            yield self._finish()  # a bare number or literal at the end of the file is complete
        elif self._open:
            yield JsonCut(self._current_index(), self._preview or _head(self._parts), gap)
        elif gap is not None:
            yield JsonGap(gap)

    def _start(self, first: int) -> None:
        """A value starts with the byte ``first`` (already consumed)."""
        self._open, self._size, self._parts, self._preview = True, 0, [], b""
        self._depth = 1 if first in _OPENERS else 0
        self._in_string, self._escaped = first == ord('"'), False
        self._scalar = not (self._depth or self._in_string)

    def _scan(self, chunk: bytes, pos: int) -> int | None:
        """Move through ``chunk`` from ``pos``; the end offset of the value when it ends in it."""
        if self._scalar:
            end = _SCALAR_END.search(chunk, pos)
            return end.start() if end else None
        if self._escaped:
            pos, self._escaped = pos + 1, False
        while pos < len(chunk):
            if self._in_string:
                # memchr-speed finds first (a 512 MB string streams by in a second); the regex steps
                # over escapes only where there are some.
                quote = chunk.find(b'"', pos)
                if chunk.find(b"\\", pos, len(chunk) if quote < 0 else quote) >= 0:
                    quote = _STRING_REST.match(chunk, pos).end()
                    if quote == len(chunk) or chunk[quote] != ord('"'):
                        self._escaped = quote < len(chunk)  # the chunk ends on a backslash
                        return None
                elif quote < 0:
                    return None
                self._in_string, pos = False, quote + 1
                if self._depth == 0:
                    return pos  # a string value
                continue
            pos = _SKIP.match(chunk, pos).end()  # text and whole strings, at regex-engine speed
            if pos == len(chunk):
                return None
            byte, pos = chunk[pos], pos + 1
            if byte == ord('"'):  # a string that runs past this chunk
                self._in_string = True
            elif byte in _OPENERS:
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    return pos
        return None

    def _take(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size <= self.max_bytes:
            self._parts.append(piece)
        elif not self._preview:
            self._preview = _head([*self._parts, piece])
            self._parts = []

    def _current_index(self) -> int | None:
        return self.index if self.is_array else None

    def _finish(self) -> JsonValue | JsonTooLarge:
        index = self._current_index()
        self.index += 1
        self._open = False
        if self._size > self.max_bytes:
            return JsonTooLarge(index, self._size, self._preview)
        data, self._parts = b"".join(self._parts), []
        return JsonValue(index, data)


def _head(parts: list[bytes]) -> bytes:
    """The first PREVIEW_BYTES of ``parts`` joined, without joining them all."""
    head = bytearray()
    for part in parts:
        head += part[: PREVIEW_BYTES - len(head)]
        if len(head) >= PREVIEW_BYTES:
            break
    return bytes(head)


def json_values(chunks: Chunks, max_bytes: int) -> Iterator[JsonEvent]:
    """The elements of a top-level JSON array (or the one value of any other document), in order.

    A leading ``[,`` and runs of commas hold no element; a value over ``max_bytes`` comes out as
    ``JsonTooLarge`` without being kept; reading stops at the first gzip gap (``JsonCut`` or
    ``JsonGap``): bytes joined across a hole would make a value that never existed.
    """
    scanner = _Scanner(max_bytes)
    for chunk in chunks:
        if isinstance(chunk, StreamError):
            yield from scanner.end(chunk)
            return
        yield from scanner.feed(chunk)
        if scanner.done:
            return
    yield from scanner.end(None)
