"""Content hashes for lineage: of files (local or any fsspec URL), of texts, of folders of files."""

from __future__ import annotations

import hashlib
import os

import fsspec


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a local file, streamed."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def url_sha256(url: str) -> tuple[str, int]:
    """(sha256, size) of a file at any fsspec URL, streamed."""
    digest = hashlib.sha256()
    size = 0
    with fsspec.open(url, "rb") as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def text_hash(text: str) -> str:
    """Content hash of a document's text (sha256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
