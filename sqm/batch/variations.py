"""What a batch of twin runs varies: `--vary KEY=START:STOP:N`, and the station and sample
texts of each run.

A KEY is a dotted path into the station file (`sim.flux_noise`, `sim.seed`) or, after
`sample.`, into the sample file the station's `sim.sample` names
(`sample.regions.lower_right.magnetism.coercivity`). The key must exist there already:
a batch varies what a file sets, so a mistyped key is refused rather than added. START
and STOP take the units of the value they replace (`1.5 A/m`, or `1.5A/m`); N values are
spaced evenly from START to STOP, both included (N = 1: START alone). Several --vary
options make a grid: every combination is one run.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import UserInputError
from ..units import to_unit

SAMPLE_PREFIX = "sample."
_NUMBER_AND_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
# The paper's flake, when a station's sim block names no sample (as sims/backend defaults)
DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "samples" / "fese_flake.yaml"


@dataclass(frozen=True)
class Variation:
    """One --vary: `key` over `values`, in the `units` of the value it replaces ('' for a bare number)."""

    key: str
    values: tuple[float, ...]
    units: str

    def text(self, value: float) -> Any:
        """The value as the file writes it."""
        return f"{value:.9g} {self.units}" if self.units else float(value)


def parse_vary(option: str) -> tuple[str, str, str, int]:
    """`KEY=START:STOP:N` -> (key, start, stop, n); UserInputError (one line) otherwise."""
    key, equals, span = option.partition("=")
    parts = span.split(":")
    if not equals or not key.strip() or len(parts) != 3:
        raise UserInputError(f"--vary {option!r}: expected KEY=START:STOP:N (e.g. sim.flux_noise=0:2e-6:5)")
    start, stop, count = (part.strip() for part in parts)
    try:
        number = int(count)
    except ValueError:
        raise UserInputError(f"--vary {option!r}: N must be a whole number, got {count!r}") from None
    if number < 1:
        raise UserInputError(f"--vary {option!r}: N must be 1 or more, got {number}")
    return key.strip(), start, stop, number


def _path(key: str) -> list[str]:
    return [part for part in key.split(".") if part]


def _lookup(data: Any, path: list[str], where: str, key: str) -> Any:
    node = data
    for depth, part in enumerate(path):
        if not isinstance(node, dict) or part not in node:
            known = sorted(str(name) for name in node) if isinstance(node, dict) else []
            hint = f"; {'.'.join(path[:depth]) or 'the file'} has {', '.join(known)}" if known else ""
            raise UserInputError(f"--vary {key}: unknown key ({where} has no {'.'.join(path[:depth + 1])}{hint})")
        node = node[part]
    return node


def _units_of(current: Any, key: str) -> str:
    """The units a key's present value is written in ('' for a bare number)."""
    if isinstance(current, bool) or not isinstance(current, (int, float, str)):
        raise UserInputError(f"--vary {key}: its value {current!r} is not a number to vary")
    if isinstance(current, (int, float)):
        return ""
    match = _NUMBER_AND_UNIT.match(current)
    if not match:
        raise UserInputError(f"--vary {key}: its value {current!r} is not a number with units")
    return match.group(2)


def _number(text: str, units: str, key: str) -> float:
    try:
        if not units:
            return float(text)
        return to_unit(text if _NUMBER_AND_UNIT.match(text).group(2) else f"{text} {units}", units)  # type: ignore[union-attr]
    except (ValueError, AttributeError, UserInputError) as error:
        raise UserInputError(f"--vary {key}: {text!r} is not a value in {units or 'bare numbers'} ({error})") from None


class BatchBase:
    """The station (and its sample file) every run of a batch starts from."""

    def __init__(self, station_path: str | Path) -> None:
        self.station_path = Path(station_path)
        try:
            self.station_text = self.station_path.read_text()
        except OSError as error:
            raise UserInputError(f"{station_path}: cannot read the station file ({error.strerror})") from None
        self.station = yaml.safe_load(self.station_text)
        if not isinstance(self.station, dict) or not isinstance(self.station.get("sim"), dict):
            raise UserInputError(f"{station_path}: a batch runs on the twin: the station file needs its sim: block")
        sim = self.station["sim"]
        sample = Path(str(sim.get("sample", DEFAULT_SAMPLE)))
        if not sample.is_absolute():  # the backend reads it from the working folder, else from the checkout
            sample = sample if sample.exists() else DEFAULT_SAMPLE.parents[2] / sample
        self.sample_path = sample.resolve()
        self._sample: dict | None = None

    @property
    def sample(self) -> dict:
        if self._sample is None:
            try:
                self._sample = yaml.safe_load(self.sample_path.read_text())
            except OSError as error:
                raise UserInputError(f"{self.sample_path}: cannot read the sample file ({error.strerror})") from None
        return self._sample

    def present(self, key: str) -> tuple[float, str]:
        """The key's value in its file, and the units it is written in ('' for a bare number)."""
        if key.startswith(SAMPLE_PREFIX):
            current = _lookup(self.sample, _path(key[len(SAMPLE_PREFIX):]), f"the sample file {self.sample_path}",
                              key)
        else:
            current = _lookup(self.station, _path(key), f"the station file {self.station_path}", key)
        units = _units_of(current, key)
        return _number(str(current), units, key), units

    def variation(self, option: str) -> Variation:
        """The --vary option, checked against the files: UserInputError (one line) if it cannot be."""
        key, start, stop, count = parse_vary(option)
        _, units = self.present(key)
        first, last = _number(start, units, key), _number(stop, units, key)
        values = (first,) if count == 1 else tuple(float(value) for value in np.linspace(first, last, count))
        return Variation(key, values, units)

    def parameter(self, option: str) -> Variation:
        """A fit's `KEY` (starting at the file's value) or `KEY=START`, as a one-value Variation."""
        key, equals, start = (part.strip() for part in option.partition("="))
        present, units = self.present(key)
        return Variation(key, (_number(start, units, key) if equals else present,), units)

    def texts(self, settings: dict[Variation, float], sample_file: Path,
              sim_overrides: dict[str, Any] | None = None) -> tuple[str, str | None]:
        """The station text of one run and, if it varies the sample, its sample text (to be
        written at `sample_file`, which the station text then names). `sim_overrides`: sim:
        settings replaced besides (a fit's candidates run without sensor noise)."""
        station = copy.deepcopy(self.station)
        station["sim"].update(sim_overrides or {})
        sample = None
        for variation, value in settings.items():
            if variation.key.startswith(SAMPLE_PREFIX):
                sample = sample if sample is not None else copy.deepcopy(self.sample)
                _set(sample, _path(variation.key[len(SAMPLE_PREFIX):]), variation.text(value))
            else:
                _set(station, _path(variation.key), variation.text(value))
        if sample is not None:
            _absolute_mask(sample, self.sample_path.parent)
            station.setdefault("sim", {})["sample"] = str(sample_file)
        else:
            station.setdefault("sim", {})["sample"] = str(self.sample_path)
        return yaml.safe_dump(station, sort_keys=False), (
            yaml.safe_dump(sample, sort_keys=False) if sample is not None else None)


def _set(data: dict, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _absolute_mask(sample: dict, folder: Path) -> None:
    """A mask image is named beside its sample file: written elsewhere, the copy names it whole."""
    for holder in [sample.get("outline"), *((sample.get("regions") or {}).values())]:
        if isinstance(holder, dict) and isinstance(holder.get("mask"), str) and not Path(holder["mask"]).is_absolute():
            holder["mask"] = str(folder / holder["mask"])


def grid(variations: list[Variation]) -> list[dict[Variation, float]]:
    """Every combination of the variations' values, the last varying fastest."""
    return [dict(zip(variations, values)) for values in itertools.product(*(v.values for v in variations))]
