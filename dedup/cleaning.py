"""The three cleaning pipelines (web, books, reddit) as lists of datatrove steps, and their runner.

Each pipeline reads ``raw/<source>/*.parquet`` and writes ``clean/<source>/*.parquet``; every
filter writes what it drops to ``excluded/clean_<source>/<step>/`` with the drop reason. Outputs
are built in a staging folder and swapped into place only when the whole run succeeded.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

from dedup.books import BookChunker, BookCleaner
from dedup.content import ContentFilter
from dedup.documents import DocumentReader, DocumentWriter
from dedup.executors import Stage, run_stages
from dedup.language import LanguageFilter
from dedup.pii import PIIScrubber
from dedup.stats import LayerStats, read_stage_stats
from dedup.threads import RedditCommentFilter, ThreadBuilder
from dedup.web import HtmlExtraction, OfflineURLFilter
from dedup.words import RegexWordTokenizer
from foundation.atomic import replace_directory
from foundation.layout import SOURCES
from foundation.settings import CleanConfig, Settings


class Exclusions:
    """Hands each filter its own exclusion writer: ``<root>/<NN>_<step>/<rank>.parquet``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def __call__(self, step: str, reason: str | None = None) -> DocumentWriter:
        self.count += 1
        return DocumentWriter(str(self.root / f"{self.count:02d}_{step}"), reason=reason)


def quality_tokenizer(config: CleanConfig) -> str | RegexWordTokenizer:
    """What the quality filters get as ``language``: a language code or a tokenizer instance."""
    if config.word_tokenizer == "regex" and config.language == "en":
        return RegexWordTokenizer()
    return config.language


def web_steps(config: CleanConfig, excluded: Exclusions) -> list[PipelineStep]:
    """FineWeb's filter chain (its default thresholds), with offline URL and language steps,
    then PII scrubbing and the appropriate-content filter."""
    lang = quality_tokenizer(config)
    return [
        OfflineURLFilter(exclusion_writer=excluded("url")),
        HtmlExtraction(exclusion_writer=excluded("extraction")),
        LanguageFilter(config.language, config.language_threshold, exclusion_writer=excluded("language")),
        GopherRepetitionFilter(language=lang, exclusion_writer=excluded("gopher_repetition")),
        GopherQualityFilter(language=lang, exclusion_writer=excluded("gopher_quality")),
        C4QualityFilter(filter_no_terminal_punct=False, language=lang, exclusion_writer=excluded("c4")),
        FineWebQualityFilter(language=lang, exclusion_writer=excluded("fineweb")),
        PIIScrubber(),
        ContentFilter(config.profanity_max_ratio["web"], exclusion_writer=excluded("content")),
    ]


def book_steps(config: CleanConfig, excluded: Exclusions) -> list[PipelineStep]:
    return [
        BookCleaner(exclusion_writer=excluded("book_cleaner")),
        BookChunker(config.book_chunk_min_chars, config.book_chunk_max_chars),
        LanguageFilter(config.language, config.language_threshold, exclusion_writer=excluded("language")),
        PIIScrubber(),
        ContentFilter(config.profanity_max_ratio["books"], exclusion_writer=excluded("content")),
    ]


def reddit_steps(config: CleanConfig, excluded: Exclusions) -> list[PipelineStep]:
    """Comment filters first (so a dropped comment cuts its chain), then threads, then language
    on the whole path (single comments are too short for a reliable language score)."""
    return [
        RedditCommentFilter(
            config.reddit_min_score,
            config.reddit_min_chars,
            config.reddit_max_chars,
            exclusion_writer=excluded("comments"),
        ),
        ContentFilter(config.profanity_max_ratio["reddit"], exclusion_writer=excluded("content")),
        PIIScrubber(),
        ThreadBuilder(config.reddit_min_turns, exclusion_writer=excluded("threads")),
        LanguageFilter(config.language, config.language_threshold, exclusion_writer=excluded("language")),
    ]


STEP_BUILDERS = {"web": web_steps, "books": book_steps, "reddit": reddit_steps}


def raw_shards(settings: Settings, source: str) -> list[Path]:
    return sorted(settings.layout.raw_dir(source).rglob("*.parquet"))


def clean_source(
    source: str,
    settings: Settings,
    config: CleanConfig,
    steps: Callable[[CleanConfig, Exclusions], list[PipelineStep]] | None = None,
) -> LayerStats:
    """Runs one source's cleaning pipeline (``steps`` replaces its step list: the benchmark's
    reference pipeline); returns its per-step statistics."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: expected one of {SOURCES}")
    shards = raw_shards(settings, source)
    if not shards:
        raise FileNotFoundError(
            f"no raw shards in {settings.layout.raw_dir(source)}: materialize raw_{source} first "
            f"(`python -m dedup ingest` runs the ingest layer without Dagster)"
        )
    layer = f"clean_{source}"
    work = settings.layout.work_dir(layer)
    shutil.rmtree(work, ignore_errors=True)
    excluded = Exclusions(work / "excluded")
    pipeline = [
        DocumentReader(str(settings.layout.raw_dir(source))),
        *(steps or STEP_BUILDERS[source])(config, excluded),
        DocumentWriter(str(work / "output")),
    ]
    stage = Stage(
        layer, pipeline, tasks=config.tasks_for(len(shards)), logging_dir=settings.layout.stage_logs(layer)
    )
    run_stages([stage], config)
    stats = read_stage_stats(layer, stage.logging_dir)
    replace_directory(work / "output", settings.layout.clean_dir(source))
    replace_directory(work / "excluded", settings.layout.excluded_dir(layer))
    return stats
