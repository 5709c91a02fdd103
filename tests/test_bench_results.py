"""The README's speed table is exactly what benchmarks/results.json renders: no hand-typed figure."""

from __future__ import annotations

import json

from benchmarks.results_table import README, RESULTS, readme_block, render
from benchmarks.run_all import SINGLE_RUN


def test_readme_table_is_rendered_from_the_results_file() -> None:
    results = json.loads(RESULTS.read_text())
    assert {"train", "decode", "tokenize", "serving", "precision"} <= results.keys()
    assert readme_block(README.read_text(encoding="utf-8")) == render(results)


def test_every_comparison_is_interleaved_with_repeats_and_load() -> None:
    results = json.loads(RESULTS.read_text())
    assert all(n >= 3 for name, n in results["repetitions"].items() if name not in SINGLE_RUN)
    assert results["repetitions"].keys() == results["dates"].keys()
    for preset, train in results["train"].items():
        assert all(len(runs) >= 3 for runs in train["runs_tokens_per_s"].values()), preset
        assert "load_average" in train and train["mfu_peak"].startswith("measured")
    assert all("load_average" in m for m in results["decode"])
    assert results["tokenize"]["ids_identical"]
