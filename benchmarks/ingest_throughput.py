"""WARC reading throughput: Rosie's reader against warcio's ArchiveIterator, same input, same run.

    PYTHONPATH=. python benchmarks/ingest_throughput.py [--copies 40] [--repeats 3]

The input is the sample's per-record-gzipped WARC files concatenated ``--copies`` times (a valid
multi-member WARC.gz of a few tens of MB). Three passes over it, best of ``--repeats``:

- ``warcio``: ``ArchiveIterator`` reading every record's full content stream (the peer);
- ``rosie parse``: ``WarcParser`` splitting records (headers + block bytes) — the same work;
- ``rosie read``: the full reader (HTTP parsing, dechunking, charset detection, decoding).

MB/s are of compressed input bytes. Timings on a shared machine are noisy; read the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from dedup.readers.stream import inflate_chunks
from dedup.readers.warc import WarcParser, read_warc
from foundation.settings import Settings


def build_input(data_root: Path, copies: int, out: Path) -> int:
    samples = sorted((data_root / "web").rglob("*.warc.gz"))
    data = b"".join(path.read_bytes() for path in samples if ".wat." not in path.name)
    out.write_bytes(data * copies)
    return out.stat().st_size


def warcio_pass(path: Path) -> int:
    records = 0
    with open(path, "rb") as raw:
        for record in ArchiveIterator(raw):
            record.content_stream().read()
            records += 1
    return records


def rosie_parse_pass(path: Path) -> int:
    with open(path, "rb") as raw:
        return sum(1 for _ in WarcParser(inflate_chunks(raw)))


def rosie_read_pass(path: Path) -> int:
    with open(path, "rb") as raw:
        return sum(1 for _ in read_warc(inflate_chunks(raw)))


def best_time(run: Callable[[Path], int], path: Path, repeats: int) -> tuple[float, int]:
    times, records = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        records = run(path)
        times.append(time.perf_counter() - started)
    return min(times), records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.warc.gz"
        size_mb = build_input(Path(Settings.from_env().data_root), args.copies, path) / 1e6
        print(
            f"input: {size_mb:.1f} MB gzipped WARC ({args.copies} copies of the samples), "
            f"best of {args.repeats}"
        )
        results = {
            name: best_time(run, path, args.repeats)
            for name, run in (
                ("warcio", warcio_pass),
                ("rosie parse", rosie_parse_pass),
                ("rosie read", rosie_read_pass),
            )
        }
    peer = results["warcio"][0]
    for name, (seconds, records) in results.items():
        print(
            f"{name:<12} {records:>7} records  {seconds:6.2f} s  {size_mb / seconds:7.1f} MB/s  "
            f"x{peer / seconds:.2f} vs warcio"
        )


if __name__ == "__main__":
    main()
