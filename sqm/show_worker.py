"""The reading half of `sqm show`: a child process that opens one run file and describes
its parts on request. HDF5 can loop forever or crash on corrupt metadata; in this
process that costs only the child, which `sqm.show` times and restarts.

    python -m sqm.show_worker FILE

It talks in JSON, one value per line. It first sends {"started": true} (imports done),
then {"opened": true}, or {"error": "<one line>"} and exits when FILE is no run file.
Then it answers each request read from stdin with one reply:

    ["attributes"]   -> {"lines": [...], "damaged": bool}   the root's attributes
    ["names"]        -> {"names": [...], "lines": [...], "damaged": bool}   root members, in step order
    ["item", NAME]   -> {"lines": [...], "damaged": bool}   one step (or other root member)

`damaged` is true when HDF5 failed on part of the object; a line then says where.
"""

from __future__ import annotations

import json
import math
import sys
from functools import partial
from typing import Callable

import h5py

from .readback import RunFileError, one_line, open_run_file, parse_parameters, step_order, text_attr, writer_state

_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)
ROOT_ATTRIBUTES = ("sqm_version", "created", "finished", "backend", "sample", "sample_file", "operator", "cooldown",
                   "note", "status", "safe_state", "error", "resumed")
# How the root's two parts are named on a line saying they could not be read
ATTRIBUTES_LABEL, NAMES_LABEL = "  attributes", "  list of steps"


def printable(text: str) -> str:
    """`text` as UTF-8 can carry it: a damaged attribute's bytes that are not UTF-8 (h5py
    hands them over as lone surrogates) become U+FFFD, so the output stays readable text."""
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the bytes h5py could not decode, as they were
    except UnicodeEncodeError:  # other lone surrogates: no byte of their own
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


class Account:
    """The lines describing one object, and whether some part of it could not be read."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.damaged = False

    def add(self, line: str) -> None:
        self.lines.append(printable(line))

    def attempt(self, label: str, describe: Callable[[], None]) -> None:
        """Run `describe` (which adds lines); if HDF5 fails in it, one line `label  (cannot read: ...)`."""
        try:
            describe()
        except _READ_ERRORS as error:
            self.add(f"{label}  (cannot read: {type(error).__name__}: {one_line(error)})")
            self.damaged = True

    def reply(self, **extra) -> dict:
        return {"lines": self.lines, "damaged": self.damaged, **extra}


def describe_attributes(h5: h5py.File, account: Account) -> None:
    """The root attributes SQM writes, the status with what is known of its writer."""
    attrs = h5.attrs
    for key in ROOT_ATTRIBUTES:
        if key in attrs:
            state = writer_state(attrs) if key == "status" else None
            account.add(f"  {key}: {_text(attrs[key])}" + (f" ({state})" if state else ""))


def describe_item(h5: h5py.File, name: str, account: Account) -> None:
    """One root member: a step's status, error, parameters and datasets; anything else as it is."""
    item = h5[name]  # not h5.get: that says None for a member HDF5 cannot open
    if isinstance(item, h5py.Dataset):
        account.add(f"{name}: {_dataset_text(item)}")
        return
    if not isinstance(item, h5py.Group):
        account.add(f"{name}  (not a group or dataset: {type(item).__name__})")
        return
    account.add(f"{name}  [{_text(item.attrs.get('status', '?'))}]")
    if "error" in item.attrs:
        account.add(f"  error: {_text(item.attrs['error'])}")
    if "parameters" in item.attrs:
        for key, entry in parse_parameters(item.attrs["parameters"]).items():
            text = _parameter_text(entry)
            if text is not None:
                account.add(f"  {key} = {text}".rstrip())
    for group_name in ["data"] + sorted(key for key in item if key.startswith("data_")):
        if group_name in item:
            account.attempt(f"  {group_name}", partial(_describe_data, item, group_name, account))


def _describe_data(step, group_name: str, account: Account) -> None:
    data = step[group_name]
    if isinstance(data, h5py.Dataset):
        account.add(f"  {group_name}: {_dataset_text(data)}")
        return
    if not isinstance(data, h5py.Group):
        return
    signal = _text(data.attrs.get("signal", ""))
    for member_name in data:
        label = f"  {group_name}/{member_name}"
        account.attempt(label, lambda: account.add(_member_text(label, data[member_name], member_name == signal)))


def _member_text(label: str, member, is_signal: bool) -> str:
    if isinstance(member, h5py.Dataset):
        return f"{label}: {_dataset_text(member)}" + (" (signal)" if is_signal else "")
    return f"{label}/  (group of {len(member)})"


def _parameter_text(entry) -> str | None:
    """SQM's {value, units} entries as a person reads them (`30 um`, `0.5 G`, `2 h`); a
    value left to the station (None) as `station default` for a rate, else None (the line
    is left out); anything else as it is."""
    if isinstance(entry, dict) and "value" in entry:
        value, units = entry["value"], _text(entry.get("units", ""))
        if value is None:
            return "station default" if units.endswith("/s") else None
        return readable(value, units)
    return _text(entry)


GAUSS = 1e-4  # T: fields are shown in G, as the lab writes them
_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"))
_PREFIXED_UNITS = {"A", "A/s", "m", "m/s", "V", "Hz", "Phi0", "ohm", "A/m", "s"}


def readable(value, units: str) -> str:
    """A parameter's SI value (a number, a list of them, true/false, a word, named
    points {name: [x, y]}) in the unit a person would write: the SI prefix that gives a
    number from 1 to 1000 (`3e-05`, 'm' -> '30 um'), fields in G (`5e-05`, 'T' -> '0.5 G'),
    temperatures in K, long times in min or h."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(float(value), units)
    if isinstance(value, list):
        return "[" + ", ".join(readable(item, units) for item in value) + "]"
    if isinstance(value, dict) and all(_is_point(point) for point in value.values()):
        return ", ".join(f"{name}: {readable(point, 'm')}" for name, point in value.items())  # probes, in m
    return _text(value)


def _is_point(point) -> bool:
    return isinstance(point, list) and len(point) == 2 and all(isinstance(c, (int, float)) for c in point)


def _number(value: float, units: str) -> str:
    if units in ("T", "T/s"):
        value, units = value / GAUSS, "G" + units[1:]
        if abs(value) >= 0.01 or value == 0:  # the lab's 0.05 G, 0.5 G/s, 20 G; below, mG
            return f"{value:.6g} {units}"
        return _prefixed(value, units)
    if units == "s" and abs(value) >= 1000:
        return f"{value / 3600:.6g} h" if abs(value) >= 3600 else f"{value / 60:.6g} min"
    if units in _PREFIXED_UNITS or units in ("G", "G/s"):
        return _prefixed(value, units)
    return f"{value:.6g} {units}".rstrip()  # K, K/s, and units this reader does not know


def _prefixed(value: float, units: str) -> str:
    """`value` `units` with the SI prefix that puts it between 1 and 1000."""
    if value == 0 or not math.isfinite(value):
        return f"{value:.6g} {units}"
    scale, prefix = _PREFIXES[0]
    for candidate, candidate_prefix in _PREFIXES:
        if abs(value) >= candidate * 0.9999999:
            scale, prefix = candidate, candidate_prefix
    return f"{value / scale:.6g} {prefix}{units}"


def _dataset_text(dataset: h5py.Dataset) -> str:
    return f"{dataset.shape} [{_text(dataset.attrs.get('units', '?'))}]"


def _text(value) -> str:
    """An attribute or value on one line."""
    return one_line(text_attr(value))


def answer(h5: h5py.File, request: list) -> dict:
    """The reply to one request (see the module docstring)."""
    account = Account()
    if request[0] == "attributes":
        account.attempt(ATTRIBUTES_LABEL, lambda: describe_attributes(h5, account))
        return account.reply()
    if request[0] == "names":
        names: list[str] = []
        account.attempt(NAMES_LABEL, lambda: names.extend(sorted(h5, key=step_order)))
        return account.reply(names=names)
    name = request[1]
    account.attempt(name, lambda: describe_item(h5, name, account))
    return account.reply()


def _send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    _send({"started": True})
    try:
        h5 = open_run_file(argv[0])
    except RunFileError as error:
        _send({"error": str(error)})
        return 0
    _send({"opened": True})
    with h5:
        for line in sys.stdin:
            _send(answer(h5, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
