"""Reading run files back: each step's attributes and data as numpy arrays."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np


@dataclass
class StepData:
    """One step of a run file, read into memory."""

    group: str  # e.g. "003_bias_sweep"
    procedure: str
    status: str
    parameters: dict
    data: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def read_steps(path: str | Path) -> list[StepData]:
    """Every step of a run file, in order."""
    steps = []
    with h5py.File(path, "r") as h5:
        for name in sorted(h5):
            group = h5[name]
            if not isinstance(group, h5py.Group) or "procedure" not in group.attrs:
                continue
            step = StepData(
                group=name,
                procedure=str(group.attrs["procedure"]),
                status=str(group.attrs.get("status", "")),
                parameters=json.loads(group.attrs.get("parameters", "{}")),
                error=group.attrs.get("error"),
            )
            if "data" in group:
                for key, dataset in group["data"].items():
                    step.data[key] = dataset[()]
                    step.units[key] = str(dataset.attrs.get("units", ""))
            steps.append(step)
    return steps


def find_step(steps: list[StepData], procedure: str, occurrence: int = -1) -> StepData:
    """The `occurrence`-th step running `procedure` (default: the last one)."""
    matching = [step for step in steps if step.procedure == procedure]
    if not matching:
        raise LookupError(f"no {procedure} step in the file")
    return matching[occurrence]
