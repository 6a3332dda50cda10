"""Where training metrics go: always `OUTPUT_DIR/log.jsonl`; TensorBoard and wandb on request.

`--report-to tensorboard wandb` adds either or both. Each needs its package (`tensorboard`,
`wandb`); asking for one that is not installed stops the run before training starts, with
the pip command to run.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from distilvit.errors import UsageError

TRACKERS = ("tensorboard", "wandb")


def check_trackers(names: tuple[str, ...]) -> None:
    """Fail early (before any data is loaded) on an unknown or uninstalled tracker."""
    for name in names:
        if name not in TRACKERS:
            raise UsageError(f"--report-to {name}: unknown; choose from {', '.join(TRACKERS)}")
        if not _installed(name):
            raise UsageError(f"--report-to {name}: the {name} package is not installed "
                             f"(pip install {name})")


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


class MetricsLog:
    """One row per call: appended to log.jsonl, and sent to each tracker asked for."""

    def __init__(self, out: Path, report_to: tuple[str, ...] = (),
                 config: dict[str, Any] | None = None):
        check_trackers(report_to)
        self.path = out / "log.jsonl"
        self.tensorboard = self.wandb = None
        out.mkdir(parents=True, exist_ok=True)
        if "tensorboard" in report_to:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(log_dir=str(out / "tensorboard"))
        if "wandb" in report_to:
            import wandb

            self.wandb = wandb.init(project=os.environ.get("WANDB_PROJECT", "distilvit"),
                                    dir=str(out), config=config or {})

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a") as log:
            log.write(json.dumps(row) + "\n")
        step = row["step"]
        scalars = {k: float(v) for k, v in row.items()
                   if k != "step" and isinstance(v, (int, float))}
        if self.tensorboard is not None:
            for key, value in scalars.items():
                self.tensorboard.add_scalar(key, value, step)
            self.tensorboard.flush()
        if self.wandb is not None:
            self.wandb.log(scalars, step=step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()
