"""`sqm show`: a plain-text account of what a run file holds."""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from .errors import UserInputError


def describe(path: str | Path) -> str:
    """Root attributes, then each step with its status, parameters and datasets."""
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError) as error:
        raise UserInputError(f"{path}: not a readable HDF5 file ({error})") from None
    lines = []
    with handle as h5:
        attrs = h5.attrs
        lines.append(f"{path}")
        for key in ("sqm_version", "created", "finished", "backend", "status", "safe_state", "error"):
            if key in attrs:
                lines.append(f"  {key}: {attrs[key]}")
        for name, group in h5.items():
            if not isinstance(group, h5py.Group):
                continue
            status = group.attrs.get("status", "?")
            lines.append(f"{name}  [{status}]")
            if "error" in group.attrs:
                lines.append(f"  error: {group.attrs['error']}")
            parameters = json.loads(group.attrs.get("parameters", "{}"))
            for key, entry in parameters.items():
                value, units = entry["value"], entry["units"]
                lines.append(f"  {key} = {value} {units}".rstrip())
            if "data" in group:
                data = group["data"]
                signal = data.attrs.get("signal", "")
                for dataset_name, dataset in data.items():
                    marker = " (signal)" if dataset_name == signal else ""
                    lines.append(
                        f"  data/{dataset_name}: {dataset.shape} [{dataset.attrs.get('units', '?')}]{marker}"
                    )
    return "\n".join(lines)
