"""What rank 0 tells the world while a phase trains: log lines, TensorBoard scalars, a progress bar
and, when Dagster launched the job, Dagster Pipes messages and the final materialization (with the
loss-curve PNG). Other ranks report through the silent :class:`NullReporter`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

from model.phase_run import PhaseRun

log = logging.getLogger("rosie.train")  # the trainer's logger: a phase's lines read as one log


class Reporter:
    """Rank 0's outlets: log lines, TensorBoard scalars, a progress bar, Dagster Pipes messages."""

    def __init__(self, run: PhaseRun, pipes: Any | None, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        self.pipes = pipes
        self.writer = SummaryWriter(str(run.settings.layout.model.tensorboard_dir(run.phase)))
        self.bar = tqdm(
            total=run.settings_of_phase.max_steps,
            initial=start_step,
            desc=f"phase {run.phase}",
            unit="step",
            file=sys.stderr,
            mininterval=2.0,
            dynamic_ncols=True,
        )

    def info(self, message: str) -> None:
        log.info(message)
        if self.pipes is not None:
            self.pipes.log.info(message)

    def scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", value, step)
        if self.pipes is not None:
            self.pipes.report_custom_message({"kind": prefix, "step": step, **values})

    def advance(self, metrics: dict[str, float]) -> None:
        self.bar.set_postfix(
            loss=f"{metrics['loss']:.3f}", tok_s=f"{metrics['tokens_per_s']:.0f}", refresh=False
        )
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
        self.writer.close()


class NullReporter(Reporter):
    """Other ranks: silent."""

    def __init__(self) -> None:
        self.pipes = None

    def info(self, message: str) -> None:
        pass

    def scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        pass

    def advance(self, metrics: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.contextmanager
def dagster_pipes(rank: int) -> Iterator[Any | None]:
    """Rank 0's Dagster Pipes session when Dagster launched this job; None otherwise."""
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    if rank != 0 or not PipesEnvVarParamsLoader().is_dagster_pipes_process():
        yield None
        return
    with open_dagster_pipes() as pipes:
        yield pipes


def report_materialization(pipes: Any, result: dict[str, Any]) -> None:
    """The phase's materialization: the loss curve inline, weights and manifest as paths, every other
    figure as is (floats rounded), the weights' sha256 as the data version."""
    png = result["loss_curve_png_base64"]
    metadata: dict[str, Any] = {
        "loss_curve": {"raw_value": f"![loss curve](data:image/png;base64,{png})", "type": "md"},
        "weights": {"raw_value": result["weights"], "type": "path"},
        "manifest": {"raw_value": result["manifest"], "type": "path"},
    }
    for key, value in result.items():
        if key not in metadata and key not in ("loss_curve_png_base64", "weights_sha256"):
            metadata[key] = value if not isinstance(value, float) else round(value, 6)
    pipes.report_asset_materialization(metadata=metadata, data_version=result["weights_sha256"])


def loss_curve_png(history: list[dict[str, float]], evals: list[dict[str, float]], title: str) -> bytes:
    """Train loss per step and validation loss per evaluation, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], label="train loss", linewidth=1)
    points = [e for e in evals if "val_loss" in e]
    if points:
        ax.plot([e["step"] for e in points], [e["val_loss"] for e in points], "o-", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
