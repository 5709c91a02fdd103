"""What a reader yields, one event per input record: a kept ``Document``, a ``Skipped`` record (not a
document by design, e.g. a WARC request) or a ``Quarantined`` one (damaged). Counting the events is
what makes "records in = kept + skipped + quarantined" hold by construction.
"""

from __future__ import annotations

import codecs
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import charset_normalizer

from dedup.readers.stream import PREVIEW_BYTES

MAX_REPLACED_FRACTION = 0.01  # more invalid bytes than this: the text is not what it claims to be


@dataclass
class Document:
    key: str  # unique within its file: record index or the source's own id
    text: str
    url: str | None = None
    title: str | None = None
    created: datetime | None = None
    metadata: dict = field(default_factory=dict)
    replaced_bytes: int = 0  # invalid bytes replaced by U+FFFD while decoding (kept, but counted)
    position: str = ""  # where in the file (``line 7``, ``element 3``, ``byte 1024``), for a quarantine entry


@dataclass(frozen=True)
class Skipped:
    reason: str  # e.g. warc_type:request, http_status:404, empty_text


@dataclass(frozen=True)
class Quarantined:
    position: str
    reason: str
    detail: str
    raw: bytes = b""

    @classmethod
    def of(cls, position: object, reason: str, detail: str, raw: bytes = b"") -> Quarantined:
        return cls(str(position), reason, detail[:1000], bytes(raw[:PREVIEW_BYTES]))


Event = Document | Skipped | Quarantined


def raw_preview(value: object) -> bytes:
    """What the quarantine keeps of a bad parsed value (any value: a dict, a number, ...)."""
    return repr(value)[:PREVIEW_BYTES].encode("utf-8", "backslashreplace")


class UndecodableText(ValueError):
    """The bytes are not text in the declared or any detectable charset."""


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def known_codec(name: str | None) -> str | None:
    """Python's codec name for a declared charset, or None when Python does not know it."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def sniff_html_charset(payload: bytes) -> str | None:
    """The charset an HTML page declares in a ``<meta>`` tag near its start."""
    match = _META_CHARSET.search(payload[:4096])
    return known_codec(match.group(1).decode("ascii", "replace")) if match else None


def decode_text(payload: bytes, declared: str | None = None) -> tuple[str, str, int]:
    """Decode bytes to text: BOM, then the declared charset, then UTF-8, then detection.

    Returns (text, encoding used, number of bytes replaced). A few invalid bytes in otherwise valid
    text (a damaged page, a bad copy) are replaced with U+FFFD and counted; text where more than 1%
    of the bytes are invalid in every candidate raises ``UndecodableText``.
    """
    for bom, encoding in _BOMS:
        if payload.startswith(bom):
            return _decode_counting(payload[len(bom) :], encoding)
    candidates = [c for c in (known_codec(declared), "utf-8") if c]
    for encoding in dict.fromkeys(candidates):
        try:
            return payload.decode(encoding), encoding, 0
        except UnicodeDecodeError:
            continue
    best = charset_normalizer.from_bytes(payload[:65536]).best()
    if best is not None and best.encoding not in candidates:
        try:
            return payload.decode(best.encoding), best.encoding, 0
        except UnicodeDecodeError:
            candidates.append(best.encoding)
    # Damaged text: the candidate with the fewest invalid bytes wins, if they are few.
    text, encoding, replaced = min((_decode_counting(payload, c) for c in candidates), key=lambda r: r[2])
    if replaced > max(1, MAX_REPLACED_FRACTION * len(payload)):
        raise UndecodableText(f"{replaced} of {len(payload)} bytes invalid as {encoding}")
    return text, encoding, replaced


_replaced = threading.local()


def _replace_and_count(error: UnicodeError) -> tuple[str, int]:
    _replaced.count += error.end - error.start  # type: ignore[attr-defined]
    return "\ufffd", error.end  # type: ignore[attr-defined]


codecs.register_error("rosie-replace-count", _replace_and_count)


def _decode_counting(payload: bytes, encoding: str) -> tuple[str, str, int]:
    _replaced.count = 0
    text = payload.decode(encoding, errors="rosie-replace-count")
    return text, encoding, _replaced.count


def utc_from_timestamp(value: object) -> datetime | None:
    """A UTC datetime from epoch seconds (int, float or numeric string); None when absent or invalid."""
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def utc_from_iso(value: object) -> datetime | None:
    """A UTC datetime from an ISO-8601 string (``Z`` suffix allowed); None when absent or invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # 9999-12-31T23:59:59-01:00 parses, but is past the last representable instant in UTC
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
