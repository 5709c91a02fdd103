"""A run launcher that makes ``dagster job launch`` wait for its run, as the README promises.

Dagster's ``DefaultRunLauncher`` starts the run in the code server's subprocess and returns; the
``dagster job launch`` command then exits once its code server has stopped (at most ~60 s later),
so a longer run outlives the command and ``make demo`` would print the summary of a half-done run.
This launcher waits for the run to finish when (and only when) the launching process is the
``dagster job launch`` CLI, and fails the command if the run failed. The webserver and daemon
launch as before (they must not block on a run).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from dagster import DagsterRunStatus, DefaultRunLauncher

POLL_S = 1.0


class RunFailedError(RuntimeError):
    """The run launched by ``dagster job launch`` did not succeed."""


def launched_from_cli(argv: list[str] | None = None) -> bool:
    """True in the process of ``dagster job launch ...``."""
    argv = sys.argv if argv is None else argv
    return Path(argv[0]).name == "dagster" and argv[1:3] == ["job", "launch"]


# Kept because OSS ``dagster job launch`` has no way to wait for its run (``--wait`` exists only in
# dagster-cloud's CLI); it subclasses the public ``dagster.DefaultRunLauncher``.
class CliWaitingRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` that blocks ``dagster job launch`` until the run ends."""

    def launch_run(self, context: Any) -> None:  # dagster's LaunchRunContext (not exported)
        super().launch_run(context)
        if launched_from_cli():
            wait_for_run(self._instance, context.dagster_run.run_id)


def wait_for_run(instance, run_id: str, poll_s: float = POLL_S) -> DagsterRunStatus:  # noqa: ANN001
    """Poll until the run is finished; raise ``RunFailedError`` unless it succeeded."""
    while True:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            if run.status != DagsterRunStatus.SUCCESS:
                raise RunFailedError(f"run {run_id} ended {run.status.value}: see `dagster dev` or its logs")
            return run.status
        time.sleep(poll_s)
