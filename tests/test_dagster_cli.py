"""The Dagster command line and web UI against the real workspace, in a temporary instance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from foundation.settings import PROJECT_ROOT
from pipelines.webserver import ASSET_GRAPH_QUERY, graphql, running_webserver

BIN = Path(sys.executable).parent
WORKSPACE = PROJECT_ROOT / "workspace.yaml"


def dagster_env(tmp_path: Path, data_root: Path) -> dict[str, str]:
    """A fresh instance (the project's dagster.yaml) and artifacts folder under ``tmp_path``."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "DAGSTER_HOME": str(home),
        "ROSIE_DATA_ROOT": str(data_root),
        "ROSIE_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "ROSIE_MODEL_DIR": str(tmp_path / "models" / "rosie_model"),
    }


@pytest.mark.slow
def test_dagster_job_launch_data_refresh(tmp_path, data_root, monkeypatch):
    env = dagster_env(tmp_path, data_root)
    started = time.perf_counter()
    # cwd outside the repo: the dagster CLI would load the repo's .env (its own DAGSTER_HOME) from there.
    completed = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", str(WORKSPACE), "-j", "data_refresh"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,  # the whole data graph (clean, dedup, datasets) runs too
    )
    elapsed = time.perf_counter() - started
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert run.job_name == "data_refresh" and run.status == dg.DagsterRunStatus.SUCCESS
        assert len(instance.get_dynamic_partitions("source_files")) == 81
        assert len(instance.get_materialized_partitions(dg.AssetKey("raw_reddit"))) == 15
    print(f"data_refresh wall time: {elapsed:.1f}s")


def test_webserver_serves_the_asset_graph_over_graphql(tmp_path, data_root):
    with running_webserver(env=dagster_env(tmp_path, data_root), cwd=tmp_path) as base_url:
        nodes = graphql(base_url, ASSET_GRAPH_QUERY)["assetNodes"]
        assert httpx.get(f"{base_url}/server_info", timeout=10).status_code == 200
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    for name in ("raw_web", "raw_books", "raw_reddit"):
        assert by_key[name]["groupName"] == "ingest" and by_key[name]["isPartitioned"]
    with pytest.raises(httpx.HTTPError):  # stopped
        httpx.get(f"{base_url}/server_info", timeout=2)
