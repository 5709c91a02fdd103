"""Per-step statistics of a datatrove run, merged over tasks, as rows for the DuckDB catalog."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


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
        return {
            k.removeprefix("dropped_"): int(v) for k, v in self.counters.items() if k.startswith("dropped_")
        }


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
