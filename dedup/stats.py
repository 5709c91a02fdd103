"""Per-step statistics of a datatrove run, merged over tasks, as rows for the DuckDB catalog."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

# datatrove's dedup filters count drops without a reason: name it after the step.
_STEP_REASONS = {"exact-deduplication": "exact_duplicate", "MinHash": "near_duplicate"}


def _step_reason(step_name: str) -> str:
    for marker, reason in _STEP_REASONS.items():
        if marker in step_name:
            return reason
    return re.sub(r"\W+", "_", step_name.encode("ascii", "ignore").decode().strip().lower()).strip("_")


@dataclass
class StepStats:
    index: int
    name: str
    counters: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def docs_in(self) -> int:
        return int(self.counters.get("total", 0))

    @property
    def kept(self) -> int:
        return int(self.counters.get("forwarded", 0))

    @property
    def dropped(self) -> int:
        return int(self.counters.get("dropped", 0))

    @property
    def drop_reasons(self) -> dict[str, int]:
        """Drops by reason; drops a step did not attribute get the step's own reason."""
        reasons = {
            k.removeprefix("dropped_"): int(v) for k, v in self.counters.items() if k.startswith("dropped_")
        }
        unattributed = self.dropped - sum(reasons.values())
        if unattributed > 0:
            reasons[_step_reason(self.name)] = unattributed
        return reasons


@dataclass
class LayerStats:
    layer: str
    steps: list[StepStats]

    def step(self, name_part: str) -> StepStats:
        return next(s for s in self.steps if name_part in s.name)

    @property
    def docs_in(self) -> int:
        return self.steps[0].counters.get("documents", 0) if self.steps else 0

    @property
    def docs_out(self) -> int:
        return int(self.steps[-1].counters.get("total", 0)) if self.steps else 0

    def drop_reasons(self) -> dict[str, int]:
        merged: dict[str, int] = defaultdict(int)
        for step in self.steps:
            for reason, count in step.drop_reasons.items():
                merged[reason] += count
        return dict(merged)

    def rows(self) -> list[dict]:
        """One row per step and reason (reason None: the step's totals)."""
        rows = []
        for step in self.steps:
            base = {"layer": self.layer, "step_index": step.index, "step": step.name, "seconds": step.seconds}
            rows.append(
                base
                | {
                    "docs_in": step.docs_in,
                    "kept": step.kept,
                    "dropped": step.dropped,
                    "reason": None,
                    "count": None,
                }
            )
            rows += [
                base
                | {
                    "docs_in": step.docs_in,
                    "kept": step.kept,
                    "dropped": step.dropped,
                    "reason": r,
                    "count": c,
                }
                for r, c in sorted(step.drop_reasons.items())
            ]
        return rows


def _value(stat: object) -> float:
    if isinstance(stat, dict):
        return float(stat.get("total", stat.get("n", 0)))
    return float(stat)


def read_stage_stats(layer: str, logging_dir: Path) -> LayerStats:
    """Merges ``<logging_dir>/stats/<rank>.json`` (written by every executor) step by step."""
    merged: dict[int, StepStats] = {}
    for path in sorted((logging_dir / "stats").glob("*.json")):
        for index, step in enumerate(json.loads(path.read_text())):
            entry = merged.setdefault(index, StepStats(index, step["name"]))
            entry.seconds += _value(step.get("time_stats", 0.0))
            for key, value in step.get("stats", {}).items():
                entry.counters[key] = entry.counters.get(key, 0) + _value(value)
    return LayerStats(layer, [merged[i] for i in sorted(merged)])


def conservation_problems(stats: LayerStats, rows_in: int | None = None) -> list[str]:
    """Walks the steps checking every document is accounted for; returns what does not add up.

    Filters: in = kept + dropped, and the next step sees exactly what was kept. The book chunker
    and thread builder change units (books -> chunks, comments -> paths); their own counters
    balance instead. ``rows_in`` (rows of the input shards) must equal what the reader read plus
    the empty rows it skipped.
    """
    problems: list[str] = []
    if not stats.steps:
        return ["no steps recorded"]
    reader = stats.steps[0].counters
    current = int(reader.get("documents", 0))
    if rows_in is not None and rows_in != current + int(reader.get("empty_skipped", 0)):
        problems.append(
            f"{rows_in} input rows but the reader read {current} + {reader.get('empty_skipped', 0)} empty"
        )
    for step in stats.steps[1:]:
        c = step.counters
        seen = int(c.get("books", c.get("comments", c.get("total", 0))))
        if seen != current:
            problems.append(f"{step.name}: saw {seen} documents, the step before passed {current}")
        if "books" in c:  # book chunker: books in, chunks out
            current = int(c.get("chunks", 0))
        elif "comments" in c:  # thread builder: comments in, paths out
            dropped = sum(v for k, v in c.items() if k.startswith("dropped_"))
            used = c.get("comments_in_paths", 0) + dropped + c.get("duplicate_comment", 0)
            if int(used) != seen:
                problems.append(f"{step.name}: {seen} comments, {int(used)} in paths or dropped")
            current = int(c.get("paths", 0))
        elif "forwarded" in c or "dropped" in c:  # a filter
            if step.kept + step.dropped != seen:
                problems.append(f"{step.name}: {seen} in != {step.kept} kept + {step.dropped} dropped")
            current = step.kept
    return problems


STATS_TABLE_COLUMNS = (
    "layer VARCHAR, step_index INTEGER, step VARCHAR, docs_in BIGINT, kept BIGINT, dropped BIGINT, "
    "reason VARCHAR, count BIGINT, seconds DOUBLE, recorded_at TIMESTAMPTZ DEFAULT current_timestamp"
)


def record_stats(con: duckdb.DuckDBPyConnection, table: str, stats: LayerStats) -> None:
    """Replaces ``stats.layer``'s rows in ``table`` (``filter_stats`` or ``dedup_stats``)."""
    con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({STATS_TABLE_COLUMNS})')
    con.execute(f'DELETE FROM "{table}" WHERE layer = ?', [stats.layer])
    columns = ("layer", "step_index", "step", "docs_in", "kept", "dropped", "reason", "count", "seconds")
    con.executemany(
        f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" for _ in columns)})',
        [[row[c] for c in columns] for row in stats.rows()],
    )
