"""Every ``ROSIE_*`` setting (and ``DISCORD_TOKEN``), typed: read from the environment, refused by
name when wrong.

Two models: :class:`Settings` (where things are, which preset, the apps and the schedule) and
:class:`CleanConfig` (``ROSIE_CLEAN_*``: the cleaning and dedup pipelines). A wrong value raises
:class:`SettingsError` naming the variable. ``python -m foundation.settings`` prints the table of
every variable that docs/settings.md holds.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from foundation.layout import SOURCES, Layout

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("demo", "gpt768", "500m", "1b")
EXECUTORS = ("local", "slurm", "ray")


class SettingsError(ValueError):
    """A ``ROSIE_*`` variable (or an explicit override) holds a value the settings refuse."""


def _raise_named(exc: ValidationError, prefix: str) -> SettingsError:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = field if field.isupper() else f"{prefix}{field.upper()}"  # an alias is the whole name
        value = "<hidden>" if "TOKEN" in name else repr(error.get("input"))  # never echo a secret
        lines.append(f"{name}={value}: {error['msg']}")
    return SettingsError("invalid setting: " + "; ".join(lines))


def _default_data_root() -> str:
    return str((PROJECT_ROOT.parent / "shared" / "data").resolve())


class Settings(BaseSettings):
    """Where inputs are read and outputs written, which model preset, and the apps' switches."""

    model_config = SettingsConfigDict(env_prefix="ROSIE_", frozen=True, extra="ignore")

    data_root: str = Field(
        default_factory=_default_data_root,
        description="the raw sources: any fsspec URL (a folder, `s3://...`)",
    )
    artifacts_dir: Path = Field(
        default=PROJECT_ROOT / "artifacts",
        description="Parquet shards, quarantine files, datasets, token shards, the DuckDB catalog",
    )
    model_dir: Path = Field(
        default=PROJECT_ROOT / "models" / "rosie_model",
        description="config, tokenizer, weights, checkpoints, training logs",
    )
    preset: Literal[PRESETS] = Field(default="demo", description="model preset: " + ", ".join(PRESETS))
    train_overrides: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,
        description='JSON (or a JSON file) overriding training settings, e.g. `{"zero_stage": 3}`',
    )
    exclude_noncommercial: bool = Field(
        default=False, description="leave the non-commercial sources (DailyDialog, ...) out of the datasets"
    )
    history_db: Path | None = Field(
        default=None, description="chat history database (default `<artifacts>/conversations.sqlite`)"
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="bearer token of the local API (default: a random one kept in `ROSIE_API_TOKEN_FILE`; "
        "empty: no token, loopback only)",
    )
    api_token_file: Path = Field(
        default=Path("~/.config/rosie/api_token"),
        description="the local API's generated token, readable by the user only (0600): the desktop app "
        "and `rosie open` read it there",
    )
    api_allowed_hosts: list[str] = Field(
        default=["127.0.0.1", "localhost", "::1"],
        description="`Host` names the local API answers (JSON list); others get 403 (DNS rebinding)",
    )
    api_allowed_origins: list[str] = Field(
        default=[],
        description="browser origins allowed besides the API's own page (JSON list, e.g. the desktop app's)",
    )
    discord_token: SecretStr | None = Field(
        default=None, validation_alias="DISCORD_TOKEN", description="token of the Discord bot (no `ROSIE_`)"
    )
    refresh_cron: str = Field(default="0 3 * * *", description="when `data_refresh` runs (cron, UTC)")
    refresh_schedule: bool = Field(default=True, description="`off` ships the daily schedule stopped")
    new_file_sensor: bool = Field(default=True, description="`off` ships the new-file sensor stopped")
    sensor_interval_s: int = Field(default=60, gt=0, description="seconds between new-file sensor ticks")
    sensor_max_runs: int = Field(default=8, gt=0, description="ingestion runs the sensor starts per tick")

    @field_validator("data_root")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.rstrip("/")

    @field_validator("artifacts_dir", "model_dir", "history_db", "api_token_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("train_overrides", mode="before")
    @classmethod
    def _json_or_file(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return {}
        if not text.startswith("{"):
            path = Path(text).expanduser()
            if not path.is_file():
                raise ValueError(f"neither a JSON object nor a file: {text}")
            text = path.read_text()
        return json.loads(text)

    @field_validator("refresh_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("a cron schedule has 5 fields, e.g. '0 3 * * *'")
        return value

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The environment, then ``overrides`` (None values ignored); wrong values named."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            raise _raise_named(exc, "ROSIE_") from None

    @property
    def layout(self) -> Layout:
        """Every path under the artifacts and model folders."""
        return Layout(self.artifacts_dir, self.model_dir)

    @property
    def history_path(self) -> Path:
        return self.history_db or self.layout.history_db


class CleanConfig(BaseSettings):
    """Cleaning and dedup settings (``ROSIE_CLEAN_<FIELD>``; JSON for dicts and pairs).

    Defaults follow FineWeb (datatrove's filter defaults, language score 0.65, MinHash 5-grams),
    except MinHash's bands: 20 buckets of 6 hashes whose candidate pairs must share 70% of their
    120 values, a sharper cut at the ~0.75 Jaccard bar than FineWeb's 14 x 8 (docs/dedup.md). The
    same code runs on a laptop (local executor) or a cluster.
    """

    model_config = SettingsConfigDict(env_prefix="ROSIE_CLEAN_", frozen=True, extra="ignore")

    # language identification (py3langid, model inside its wheel)
    language: str = Field(default="en", description="language kept by the language filter")
    language_threshold: float = Field(default=0.65, ge=0, le=1, description="min language score (FineWeb)")
    word_tokenizer: Literal["regex", "datatrove"] = Field(
        default="regex",
        description="words for the Gopher/C4/FineWeb filters: `regex` (English) or `datatrove` (spaCy)",
    )
    profanity_max_ratio: dict[str, float] = Field(
        default_factory=lambda: {"web": 0.005, "books": 0.01, "reddit": 0.05},
        description="largest share of profane words per source (slurs drop a document at any count)",
    )
    reddit_min_score: int = Field(default=1, description="Reddit comments below this score are dropped")
    reddit_min_chars: int = Field(default=5, ge=0, description="shortest Reddit comment kept")
    reddit_max_chars: int = Field(default=2000, gt=0, description="longest Reddit comment kept")
    reddit_min_turns: int = Field(default=2, ge=1, description="turns a rebuilt Reddit dialogue needs")
    book_chunk_min_chars: int = Field(
        default=6000,
        gt=0,
        description="book chunks end at a chapter or paragraph past this many letters/digits",
    )
    book_chunk_max_chars: int = Field(
        default=20000,
        gt=0,
        description="a book chunk ends at the paragraph that takes it past this many letters/digits",
    )
    minhash_ngrams: int = Field(default=5, gt=0, description="MinHash shingle length (words)")
    minhash_buckets: int = Field(default=20, gt=0, description="MinHash LSH buckets")
    minhash_hashes_per_bucket: int = Field(default=6, gt=0, description="MinHash hashes per bucket")
    minhash_min_similarity: float = Field(
        default=0.7, ge=0, le=1, description="share of equal MinHash values a candidate pair needs (0: off)"
    )
    minhash_min_words: int = Field(
        default=20, ge=0, description="texts with fewer words are deduplicated exactly only, never by MinHash"
    )
    decontamination_ngram: int = Field(default=13, gt=0, description="n-gram shared with evaluation texts")
    dedup_rate_bounds: tuple[float, float] = Field(
        default=(0.0, 0.5), description="the dedup asset check's accepted share of duplicates"
    )
    language_purity_min: float = Field(default=0.9, ge=0, le=1, description="the language check's bar")
    language_purity_sample: int = Field(default=200, gt=0, description="documents the language check reads")
    executor: Literal[EXECUTORS] = Field(default="local", description="datatrove executor: local, slurm, ray")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, description="parallel workers")
    tasks: int | None = Field(
        default=None, ge=1, description="tasks a stage splits its files into (empty: one per worker)"
    )
    slurm_partition: str = Field(default="cpu", description="Slurm partition (slurm executor)")
    slurm_time: str = Field(default="04:00:00", description="Slurm time limit per task")
    ray_address: str | None = Field(default=None, description="Ray cluster (empty: a local instance)")

    @field_validator("tasks", "ray_address", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("profanity_max_ratio")
    @classmethod
    def _every_source_has_a_threshold(cls, value: dict[str, float]) -> dict[str, float]:
        missing = set(SOURCES) - set(value)
        if missing:
            raise ValueError(f"no threshold for {sorted(missing)}")
        return value

    @classmethod
    def from_env(cls, **overrides: Any) -> CleanConfig:
        """Defaults, then ``ROSIE_CLEAN_<FIELD>`` variables, then ``overrides`` (None ignored)."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            raise _raise_named(exc, "ROSIE_CLEAN_") from None

    def tasks_for(self, files: int) -> int:
        """Tasks for a stage reading ``files`` shards: never more tasks than files."""
        return max(1, min(files, self.tasks or self.workers))

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


def settings_table() -> str:
    """Markdown table of every variable, from the two models (docs/settings.md holds it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for model, prefix in ((Settings, "ROSIE_"), (CleanConfig, "ROSIE_CLEAN_")):
        for name, field in model.model_fields.items():
            if field.default_factory is not None:
                default = {
                    "data_root": "`../shared/data`",
                    "workers": "the CPU count",
                }.get(name) or f"`{json.dumps(field.default_factory())}`"
            elif field.default is None:
                default = "—"
            else:
                value = field.default
                if isinstance(value, Path) and value.is_relative_to(PROJECT_ROOT):
                    value = value.relative_to(PROJECT_ROOT).as_posix() + "/"
                if isinstance(value, bool):
                    value = "on" if value else "off"
                default = f"`{json.dumps(value)}`" if isinstance(value, tuple | list) else f"`{value}`"
            variable = field.validation_alias or f"{prefix}{name.upper()}"  # an alias is the whole name
            rows.append(f"| `{variable}` | {default} | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(settings_table() + "\n")
