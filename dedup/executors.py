"""One switch for where datatrove pipelines run: local (N worker processes), slurm or ray.

The pipeline objects are the same for all three; only the executor wrapping them changes.
Stages are chained with ``depends`` and :func:`run_stages` returns once the last one finished,
for every executor (Slurm jobs are polled until their completion markers appear).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from datatrove.executor.base import PipelineExecutor
from datatrove.pipeline.base import PipelineStep

from foundation.settings import CleanConfig

SLURM_POLL_SECONDS = 30


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

        return LocalPipelineExecutor(stage.pipeline, workers=workers, **common)
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


def run_stages(stages: list[Stage], config: CleanConfig) -> None:
    """Runs the stages in order (each depends on the previous) and waits for the last one."""
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
