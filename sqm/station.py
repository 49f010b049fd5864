"""The station: role instances built from a station file, with limits and a clock.

A station file names a backend (`backend: sim` for the twin); the backend is found
by name through the `sqm.backends` entry-point group, so the core imports no
implementation. The backend builds the roles and the clock; the station attaches
the limits and knows how to make everything safe.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from .clock import Clock
from .errors import InstrumentError, UserInputError
from .limits import StationLimits
from .pacing import CleanupPacer
from .roles import ROLE_TYPES, CurrentSource, Magnet, Role, Scanner, SquidReadout, TemperatureController, Voltmeter

BACKEND_GROUP = "sqm.backends"
DEFAULT_STATION = Path(__file__).resolve().parent.parent / "configs" / "stations" / "sim.yaml"
_STATION_KEYS = {"name", "backend", "limits", "interlocks", "description"}


@dataclass
class Backend:
    """What a backend builder returns: the filled roles and the clock they live by."""

    kind: str  # "sim" or "hardware", recorded in every file
    roles: dict[str, Role]
    clock: Clock
    close: Callable[[], None] = lambda: None
    badge: str = ""  # what an operator is shown, e.g. "TWIN" (default: the kind, upper case)
    # The roles may be read from another thread while a run drives them (cheap and
    # thread-safe); real instruments are not: a window then shows the run's own readings.
    reads_beside_runs: bool = False
    # Roles whose instrument could not be opened, with the reason (only when built
    # with tolerant=True, for `sqm instruments`; a station that runs has none).
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.badge or self.kind.upper()


@dataclass
class Station:
    """A set of role instances, their limits and their clock."""

    name: str
    text: str  # the station file as written, stored in every run file
    backend: Backend
    limits: StationLimits
    interlock_config: dict = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_STATION, tolerant: bool = False) -> "Station":
        """Build from a station file. `tolerant`: open what answers, list the rest in
        backend.failures (for `sqm instruments`), instead of refusing the station."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise UserInputError(f"{path}: cannot read the station file ({error.strerror})") from None
        return cls.from_text(text, source=str(path), tolerant=tolerant)

    @classmethod
    def from_text(cls, text: str, source: str = "<station>", tolerant: bool = False) -> "Station":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise UserInputError(f"{source}: not valid YAML ({_yaml_where(error)})") from None
        if not isinstance(data, dict):
            raise UserInputError(f"{source}: a station file is a mapping with 'backend' and 'limits'")
        backend_name = data.get("backend")
        if not isinstance(backend_name, str):
            raise UserInputError(f"{source}: 'backend' is missing (e.g. 'backend: sim')")
        builder = _find_backend(backend_name, source)
        unknown = set(data) - _STATION_KEYS - {backend_name}
        if unknown:
            raise UserInputError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            limits = StationLimits.from_mapping(data.get("limits"))
        except UserInputError as error:
            raise UserInputError(f"{source}: {error}") from None
        try:
            backend = builder(data.get(backend_name) or {}, limits, tolerant=tolerant)
        except UserInputError as error:
            raise UserInputError(f"{source}: {error}") from None
        if not backend.failures:
            _check_roles(backend.roles, source)
        for role in backend.roles.values():
            role.attach_limits(limits)
        return cls(
            name=str(data.get("name", Path(source).stem)),
            text=text,
            backend=backend,
            limits=limits,
            interlock_config=dict(data.get("interlocks") or {}),
        )

    # Typed access for procedures.
    @property
    def clock(self) -> Clock:
        return self.backend.clock

    @property
    def current_source(self) -> CurrentSource:
        return self.backend.roles["current_source"]  # type: ignore[return-value]

    @property
    def magnet(self) -> Magnet:
        return self.backend.roles["magnet"]  # type: ignore[return-value]

    @property
    def temperature(self) -> TemperatureController:
        return self.backend.roles["temperature"]  # type: ignore[return-value]

    @property
    def scanner(self) -> Scanner:
        return self.backend.roles["scanner"]  # type: ignore[return-value]

    @property
    def squid(self) -> SquidReadout:
        return self.backend.roles["squid"]  # type: ignore[return-value]

    @property
    def voltmeter(self) -> Voltmeter:
        return self.backend.roles["voltmeter"]  # type: ignore[return-value]

    def snapshot(self) -> dict[str, dict]:
        """Every role's snapshot; a role that fails says why instead of hiding the others."""
        result: dict[str, dict] = {}
        for name, role in self.backend.roles.items():
            try:
                result[name] = role.snapshot()
            except Exception as error:  # a snapshot must never stop a run from being recorded
                result[name] = {"error": f"{type(error).__name__}: {error}"}
        return result

    def make_safe(self) -> list[str]:
        """Bias to zero, then retract z (fast, and the sensor must not wait minutes
        near the surface), then the magnet, then the rest.

        Every role is attempted even if an earlier one fails; returns the failures
        (empty when the station is safe).
        """
        pacer = CleanupPacer(self.clock)
        order = ["current_source", "scanner", "magnet", "temperature", "squid", "voltmeter"]
        failures = []
        for name in order:
            try:
                self.backend.roles[name].safe_state(pacer)
            except Exception as error:
                failures.append(f"{name}: {type(error).__name__}: {error}")
        return failures

    def close(self) -> None:
        self.backend.close()


def _find_backend(name: str, source: str) -> Callable[[dict, StationLimits], Backend]:
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group=BACKEND_GROUP)}
    if name not in entry_points:
        known = ", ".join(sorted(entry_points)) or "none installed"
        raise UserInputError(f"{source}: unknown backend {name!r} (known: {known})")
    return entry_points[name].load()


def _check_roles(roles: dict[str, Role], source: str) -> None:
    for name, role_type in ROLE_TYPES.items():
        role = roles.get(name)
        if role is None:
            raise InstrumentError(f"{source}: the backend fills no '{name}' role")
        if not isinstance(role, role_type):
            raise InstrumentError(f"{source}: '{name}' is a {type(role).__name__}, not a {role_type.__name__}")


def _yaml_where(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "syntax error"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem
