"""Start ``dagster-webserver`` on 127.0.0.1 for a test or a screenshot, and stop it afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from foundation.settings import PROJECT_ROOT

ASSET_GRAPH_QUERY = "{ assetNodes { assetKey { path } groupName isPartitioned dependencyKeys { path } } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(base_url: str, query: str) -> dict:
    response = httpx.post(f"{base_url}/graphql", json={"query": query}, timeout=30)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


@contextlib.contextmanager
def running_webserver(
    env: dict[str, str] | None = None, cwd: Path | None = None, timeout_s: float = 120
) -> Iterator[str]:
    """Yield the base URL of a webserver serving ``workspace.yaml``, once its asset graph loads.

    It runs in ``cwd`` or a fresh empty folder, never the repository root: the dagster CLI loads
    ``.env`` from its working directory, and the repository's would override ``DAGSTER_HOME``.
    """
    with contextlib.ExitStack() as stack:
        workdir = cwd or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rosie-webserver-")))
        yield from _serve(env, workdir, timeout_s)


def _serve(env: dict[str, str] | None, cwd: Path, timeout_s: float) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).parent / "dagster-webserver"),
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
    ]
    env = {"PYTHONPATH": str(PROJECT_ROOT), **(env or os.environ)}
    server = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_asset_graph(base_url, server, timeout_s)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_asset_graph(base_url: str, server: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {server.returncode} before serving {base_url}")
        with contextlib.suppress(httpx.HTTPError, RuntimeError, ValueError):
            if graphql(base_url, ASSET_GRAPH_QUERY)["assetNodes"]:
                return
        time.sleep(1)
    raise TimeoutError(f"dagster-webserver did not serve the asset graph at {base_url} within {timeout_s}s")
