"""Atomic writes: one file, or a folder of files that must change together.

- One file is written under a temporary name in the same folder, then renamed over the target
  (``atomic_path``).
- A folder (a dataset's splits, a token shard's arrays, the tokenizer, a cleaning layer) is built
  complete under a temporary name beside the target, then exchanged with the target in one system
  call (Linux ``renameat2(RENAME_EXCHANGE)``), and the old folder is removed
  (``publish_directory``, ``replace_directory``). A run killed at any moment leaves the old set of
  files or the new one, never a mix (before, a killed dataset build left a new train split beside
  an old test split). The target stays a plain folder, so every reader (DuckDB, datatrove, numpy)
  works unchanged. Where the exchange is not supported (not Linux) the old folder is renamed aside
  first: a kill between the two renames then leaves no folder rather than a mix.

Temporary names carry the writer's process id (``.<name>.tmp-<pid>-<random>``): the next write of
the same target removes what a killed writer left, and never a live writer's file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TMP_MARK = ".tmp-"


def temporary_name(final_name: str) -> str:
    """A name beside ``final_name`` that is hidden, unique, and says which process owns it."""
    return f".{final_name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _owner_alive(temporary: str) -> bool:
    """Whether the process named in a temporary name still runs (a name without one: no)."""
    pid = temporary.rpartition(TMP_MARK)[2].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, final_name: str = "*") -> list[Path]:
    """Remove the temporaries (files or folders) of ``final_name`` in ``folder`` whose writer is gone."""
    removed = []
    name = final_name if final_name == "*" else glob.escape(final_name)
    for path in Path(folder).glob(f".{name}{TMP_MARK}*"):
        if not _owner_alive(path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final.parent, final.name)
    tmp = final.with_name(temporary_name(final.name))
    tmp.touch()
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_atomic(table: pa.Table, final: str | os.PathLike) -> Path:
    """Write ``table`` as Parquet (zstd) to ``final`` atomically."""
    with atomic_path(final) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(final)


def write_text_atomic(text: str, final: str | os.PathLike) -> Path:
    """Write UTF-8 text to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


@contextlib.contextmanager
def publish_directory(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``final``; when the block succeeds, it replaces ``final``
    in one step. If the block raises (or the process is killed), ``final`` is untouched and the
    staging folder is removed (then, or by the next publish of ``final``)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final.parent, final.name)
    staging = final.with_name(temporary_name(final.name))
    staging.mkdir()
    try:
        yield staging
        _swap_in(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # after the swap it holds the old folder


def replace_directory(staging: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Put the finished folder ``staging`` (same filesystem) in place of ``final`` in one step, as
    ``publish_directory`` does; an empty folder when ``staging`` does not exist."""
    staging, final = Path(staging), Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir(parents=True, exist_ok=True)
    _swap_in(staging, final)
    shutil.rmtree(staging, ignore_errors=True)
    return final


def _swap_in(staging: Path, final: Path) -> None:
    """Make ``staging`` the folder at ``final``; afterwards ``staging`` holds the old one, if any."""
    if not final.exists():
        os.replace(staging, final)
    elif not exchange_paths(staging, final):
        aside = final.with_name(temporary_name(final.name))
        os.replace(final, aside)
        os.replace(staging, final)
        os.replace(aside, staging)


_libc = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange_paths(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False
    where the system or the filesystem cannot, and nothing was changed."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), os.fspath(b))
