"""`sqm show`: a plain-text account of what a run file holds.

It reads any HDF5 file without a traceback: a run still being written (opened
without locking), and files or groups SQM did not write (shown as they are).
"""

from __future__ import annotations

from pathlib import Path

import h5py

from .readback import one_line, open_run_file, parse_parameters, step_order, text_attr

_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


def describe(path: str | Path) -> str:
    """Root attributes, then each step with its status, parameters and datasets."""
    path = Path(path)
    handle = open_run_file(path)  # RunFileError is a UserInputError: one line, exit status 2
    lines = [f"{path}"]
    with handle as h5:
        try:
            attrs = h5.attrs
            for key in ("sqm_version", "created", "finished", "backend", "status", "safe_state", "error"):
                if key in attrs:
                    lines.append(f"  {key}: {_text(attrs[key])}")
            names = sorted(h5, key=step_order)
        except _READ_ERRORS as error:
            lines.append(f"  (cannot read the file's contents: {type(error).__name__}: {one_line(error)})")
            names = []
        for name in names:
            try:
                lines.extend(_describe_item(h5, name))
            except _READ_ERRORS as error:
                lines.append(f"{name}  (cannot read: {type(error).__name__}: {one_line(error)})")
    return "\n".join(lines)


def _describe_item(h5: h5py.File, name: str) -> list[str]:
    item = h5.get(name)
    if isinstance(item, h5py.Dataset):
        return [f"{name}: {_dataset_text(item)}"]
    if not isinstance(item, h5py.Group):
        return [f"{name}  (not a group or dataset: {type(item).__name__})"]
    lines = [f"{name}  [{_text(item.attrs.get('status', '?'))}]"]
    if "error" in item.attrs:
        lines.append(f"  error: {_text(item.attrs['error'])}")
    if "parameters" in item.attrs:
        for key, entry in parse_parameters(item.attrs["parameters"]).items():
            lines.append(f"  {key} = {_parameter_text(entry)}".rstrip())
    data = item.get("data")
    if isinstance(data, h5py.Dataset):
        lines.append(f"  data: {_dataset_text(data)}")
    elif isinstance(data, h5py.Group):
        signal = _text(data.attrs.get("signal", ""))
        for dataset_name, member in data.items():
            if isinstance(member, h5py.Dataset):
                marker = " (signal)" if dataset_name == signal else ""
                lines.append(f"  data/{dataset_name}: {_dataset_text(member)}{marker}")
            else:
                lines.append(f"  data/{dataset_name}/  (group of {len(member)})")
    return lines


def _parameter_text(entry) -> str:
    """`value units` for SQM's {value, units} entries; anything else as it is."""
    if isinstance(entry, dict) and "value" in entry:
        return f"{entry['value']} {_text(entry.get('units', ''))}"
    return _text(entry)


def _dataset_text(dataset: h5py.Dataset) -> str:
    return f"{dataset.shape} [{_text(dataset.attrs.get('units', '?'))}]"


def _text(value) -> str:
    """An attribute or value on one line."""
    return one_line(text_attr(value))
