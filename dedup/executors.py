"""One switch for where datatrove pipelines run: local (N worker processes), slurm or ray.

The pipeline objects are the same for all three; only the executor wrapping them changes.
Stages are chained with ``depends`` and :func:`run_stages` returns once the last one finished,
for every executor (Slurm jobs are polled until their completion markers appear).

The local executor starts its workers with ``forkserver``: each worker imports the caller's main
script again. A script that calls ``run_clean``/``run_dedup`` at top level, without an
``if __name__ == "__main__":`` guard, would start workers from inside that import, forever;
:func:`run_stages` checks first, in one short-lived worker, and stops with a clear error instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from datatrove.executor.base import PipelineExecutor
from datatrove.pipeline.base import PipelineStep

from foundation.settings import CleanConfig

SLURM_POLL_SECONDS = 30
START_METHOD = "forkserver"  # datatrove's LocalPipelineExecutor default
MAIN_GUARD_ERROR = (
    "{script} calls the dedup pipeline while worker processes import it again: local workers "
    "(ROSIE_CLEAN_WORKERS > 1) re-import the main script, so put the call under "
    '`if __name__ == "__main__":` (or run with ROSIE_CLEAN_WORKERS=1)'
)
PROBE_ENV = "ROSIE_DEDUP_WORKER_PROBE"
_workers_can_start = False


@dataclass
class Stage:
    """One datatrove pipeline run: its steps, how many tasks split the input, where it logs."""

    name: str
    pipeline: list[PipelineStep]
    tasks: int
    logging_dir: Path
    workers: int | None = None  # None: the config's worker count, capped at ``tasks``


def make_executor(
    stage: Stage, config: CleanConfig, depends: PipelineExecutor | None = None
) -> PipelineExecutor:
    workers = min(stage.workers or config.workers, stage.tasks)
    common = dict(
        tasks=stage.tasks,
        logging_dir=str(stage.logging_dir),
        depends=depends,
        skip_completed=False,  # every run starts from a fresh logging dir (see run_stages)
    )
    if config.executor == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(stage.pipeline, workers=workers, start_method=START_METHOD, **common)
    if config.executor == "ray":
        from datatrove.executor import RayPipelineExecutor

        _ensure_ray(config)
        return RayPipelineExecutor(stage.pipeline, workers=workers, cpus_per_task=1, **common)
    from datatrove.executor import SlurmPipelineExecutor

    return SlurmPipelineExecutor(
        stage.pipeline,
        time=config.slurm_time,
        partition=config.slurm_partition,
        workers=workers,
        job_name=f"rosie-{stage.name}",
        venv_path=str(Path(sys.prefix) / "bin" / "activate"),
        **common,
    )


def _ensure_ray(config: CleanConfig) -> None:
    import ray

    if not ray.is_initialized():
        # A local instance sized to this machine unless an address points at a cluster.
        ray.init(
            address=config.ray_address,
            num_cpus=None if config.ray_address else config.workers,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )


def _main_script() -> str:
    main = sys.modules.get("__main__")
    return getattr(main, "__file__", None) or "the main script"


def _importing_main_in_probe() -> bool:
    """True inside the probe's worker while it re-imports the caller's main script. Not every
    ``__mp_main__`` is one: Dagster runs each step in a process it starts the same way."""
    main_name = getattr(sys.modules.get("__main__"), "__name__", None)
    return os.environ.get(PROBE_ENV) == "1" and main_name == "__mp_main__"


def _noop() -> None:
    """What the probe worker runs once it has imported the main script."""


def check_workers_can_start() -> None:
    """Starts one worker the way the local executor does and raises a clear error if it cannot
    import the main script (once per process: the answer does not change)."""
    global _workers_can_start
    if _workers_can_start:
        return
    import multiprocess

    probe = multiprocess.get_context(START_METHOD).Process(target=_noop)
    # the forkserver (started here, on first use) and its workers inherit the marker
    os.environ[PROBE_ENV] = "1"
    try:
        probe.start()
    finally:
        del os.environ[PROBE_ENV]
    probe.join()
    if probe.exitcode != 0:
        raise RuntimeError(MAIN_GUARD_ERROR.format(script=_main_script()))
    _workers_can_start = True


@contextmanager
def _sigterm_not_ignored() -> Iterator[None]:
    """Stops ignoring SIGTERM while local workers start and stop. An ignored signal survives exec, so
    the forkserver and every pool worker would ignore it too, and datatrove's pool, which ends its
    workers with SIGTERM, would wait for them for ever (a launcher that ignores SIGTERM did that)."""
    ignored = signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    if not ignored or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run_stages(stages: list[Stage], config: CleanConfig) -> None:
    """Runs the stages in order (each depends on the previous) and waits for the last one."""
    with _sigterm_not_ignored():
        _run_stages(stages, config)


def _run_stages(stages: list[Stage], config: CleanConfig) -> None:
    if _importing_main_in_probe():
        raise RuntimeError(MAIN_GUARD_ERROR.format(script=_main_script()))
    if config.executor == "local" and any(min(s.workers or config.workers, s.tasks) > 1 for s in stages):
        check_workers_can_start()
    executor: PipelineExecutor | None = None
    for stage in stages:
        if stage.logging_dir.exists():
            shutil.rmtree(stage.logging_dir)
        executor = make_executor(stage, config, depends=executor)
    if executor is None:
        return
    executor.run()
    if config.executor == "slurm":
        for stage in stages:
            _wait_for_markers(stage)


def _wait_for_markers(stage: Stage) -> None:
    completions = stage.logging_dir / "completions"
    while len(list(completions.glob("*"))) < stage.tasks if completions.exists() else True:
        time.sleep(SLURM_POLL_SECONDS)
