"""``python -m dedup``: the cleaning and dedup layers without Dagster.

    python -m dedup ingest [--force]        # raw shards + ingest_stats from the data root (the ingest layer)
    python -m dedup clean [--source web]    # clean_web / clean_books / clean_reddit
    python -m dedup dedup                   # deduped_corpus (exact + MinHash + decontamination
                                            #   against the built datasets; --no-decontamination)
    python -m dedup pretrain                # pretrain_corpus
    python -m dedup all                     # clean, dedup, pretrain
    python -m dedup wordlist-hash WORD ...  # lines to append to dedup/wordlists/*.txt

Options override the ``ROSIE_CLEAN_*`` environment (see docs/settings.md); outputs go under
``ROSIE_ARTIFACTS_DIR`` (default ``artifacts/``).
"""

from __future__ import annotations

import argparse
import sys
import time

from dedup.content import word_digest
from dedup.layers import LayerRun, run_clean, run_dedup, run_pretrain
from foundation.layout import SOURCES
from foundation.settings import EXECUTORS, CleanConfig, Settings
from labeling.datasets import evaluation_texts


def _report(name: str, run: LayerRun, seconds: float) -> None:
    dropped = ", ".join(f"{k}={v}" for k, v in sorted(run.dropped.items(), key=lambda kv: -kv[1])[:12])
    print(f"{name}: {run.rows_in} in -> {run.rows_out} out in {seconds:.1f}s; dropped: {dropped or 'none'}")
    for problem in run.problems:
        print(f"  COUNT PROBLEM: {problem}", file=sys.stderr)


def _ingest(settings: Settings, force: bool) -> None:
    """The ingest layer as the ``raw_*`` assets run it: shards, quarantine files, ``ingest_stats``."""
    from dedup.ingest import discover
    from dedup.ingest_stats import ingest_files

    for source, files in discover(settings.data_root).items():
        results = ingest_files(settings, source, files, force)
        kept = sum(r.kept for r in results)
        quarantined = sum(sum(r.quarantined.values()) for r in results)
        reused = sum(r.reused for r in results)
        print(f"raw_{source}: {len(files)} files ({reused} unchanged), {kept} documents, {quarantined} bad")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dedup", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["ingest", "clean", "dedup", "pretrain", "all", "wordlist-hash"])
    parser.add_argument("words", nargs="*", help="words to hash (wordlist-hash)")
    parser.add_argument("--source", choices=[*SOURCES, "all"], default="all")
    parser.add_argument("--executor", choices=EXECUTORS)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--language")
    parser.add_argument(
        "--force", action="store_true", help="ingest: re-read files whose sha256 is unchanged"
    )
    parser.add_argument(
        "--no-decontamination",
        action="store_true",
        help="dedup without the datasets' evaluation texts (default: they must be built, python -m labeling)",
    )
    args = parser.parse_args(argv)

    if args.command == "wordlist-hash":
        print("\n".join(word_digest(w) for w in args.words))
        return 0
    settings = Settings.from_env()
    if args.command == "ingest":
        _ingest(settings, args.force)
        return 0
    config = CleanConfig.from_env(executor=args.executor, workers=args.workers, language=args.language)
    problems = 0
    steps = []
    if args.command in ("clean", "all"):
        sources = SOURCES if args.source == "all" else (args.source,)
        steps += [(f"clean_{s}", lambda s=s: run_clean(s, settings, config)) for s in sources]
    if args.command in ("dedup", "all"):
        texts = [] if args.no_decontamination else evaluation_texts(settings)
        steps.append(("deduped_corpus", lambda: run_dedup(settings, config, texts)))
    if args.command in ("pretrain", "all"):
        steps.append(("pretrain_corpus", lambda: run_pretrain(settings, config)))
    for name, step in steps:
        started = time.perf_counter()
        run = step()
        _report(name, run, time.perf_counter() - started)
        problems += len(run.problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
