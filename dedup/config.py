"""Cleaning and deduplication settings: one dataclass, environment overrides, no Dagster import.

Defaults follow FineWeb (datatrove's filter defaults, language score 0.65, MinHash 5-grams with
14 buckets of 8 hashes). Every field can be set from the environment (``ROSIE_CLEAN_<FIELD>``) so
the same code runs on a laptop (local executor) or a cluster (slurm, ray).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

EXECUTORS = ("local", "slurm", "ray")
SOURCES = ("web", "books", "reddit")


@dataclass(frozen=True)
class CleanConfig:
    # language identification (py3langid, model inside its wheel)
    language: str = "en"
    language_threshold: float = 0.65  # FineWeb's threshold
    # word tokenizer of the Gopher/C4/FineWeb filters: "regex" (dedup/words.py, English) or
    # "datatrove" (datatrove's choice for the language: spaCy for English)
    word_tokenizer: str = "regex"
    # appropriate content: largest share of profane/NSFW words a document may have, per source;
    # slurs are dropped at any count
    profanity_max_ratio: dict[str, float] = field(
        default_factory=lambda: {"web": 0.005, "books": 0.01, "reddit": 0.05}
    )
    # reddit
    reddit_min_score: int = 1
    reddit_min_chars: int = 5
    reddit_max_chars: int = 2000
    reddit_min_turns: int = 2
    # books: documents cut at paragraph boundaries, content-defined so editions cut alike
    book_chunk_min_chars: int = 6000
    book_chunk_max_chars: int = 20000
    # dedup
    minhash_ngrams: int = 5
    minhash_buckets: int = 14
    minhash_hashes_per_bucket: int = 8
    decontamination_ngram: int = 13
    # asset checks
    dedup_rate_bounds: tuple[float, float] = (0.0, 0.5)
    language_purity_min: float = 0.9
    language_purity_sample: int = 200
    # execution
    executor: str = "local"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # tasks a stage splits its input files into; None: one per worker (fewest task start-ups)
    tasks: int | None = None
    slurm_partition: str = "cpu"
    slurm_time: str = "04:00:00"
    ray_address: str | None = None  # None: start (or join) a local Ray instance

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, got {self.executor!r}")
        if self.word_tokenizer not in ("regex", "datatrove"):
            raise ValueError(f"word_tokenizer must be 'regex' or 'datatrove', got {self.word_tokenizer!r}")
        if self.tasks is not None and self.tasks < 1:
            raise ValueError(f"tasks must be >= 1, got {self.tasks}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        missing = set(SOURCES) - set(self.profanity_max_ratio)
        if missing:
            raise ValueError(f"profanity_max_ratio lacks a threshold for {sorted(missing)}")

    @classmethod
    def from_env(cls, **overrides: Any) -> CleanConfig:
        """Defaults, then ``ROSIE_CLEAN_<FIELD>`` variables (JSON for dicts/tuples), then ``overrides``."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(f"ROSIE_CLEAN_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def tasks_for(self, files: int) -> int:
        """Tasks for a stage reading ``files`` shards: never more tasks than files."""
        return max(1, min(files, self.tasks or self.workers))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def _parse(raw: str, type_name: str) -> Any:
    if type_name.startswith(("dict", "tuple")):
        value = json.loads(raw)
        return tuple(value) if type_name.startswith("tuple") else value
    if type_name == "int":
        return int(raw)
    if type_name == "float":
        return float(raw)
    if raw == "" and "None" in type_name:
        return None
    return raw
