"""What a procedure is: named, typed parameters and a `run` written against roles.

A procedure is built from the raw values of a procedure file (`from_raw`), which
converts units and rejects unknown keys; `validate` checks every setpoint it will
send against the station limits before anything moves; `run` talks only to the
roles through a `StepContext` and records data through it.

Parameters are declared as typed class attributes, so editors and type checkers see
them:

    class BiasSweep(Procedure):
        step: float = param("current", "2 uA", "largest step between readings (A)", positive=True)

and read as `self.step` (SI units) once the procedure is built.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ..context import StepContext
from ..errors import UserInputError
from ..limits import StationLimits
from ..units import SI_UNITS, to_si


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()

# The most data points (or pixels) one step may ask for: far above any real scan or
# sweep, far below what would exhaust memory (a typo such as `step: 1 pA`).
MAX_POINTS = 10_000_000

# What is left of a decimal written with a comma inside a `{...}` mapping: YAML splits
# `{to_temperature: 1,5 K}` at the comma into `to_temperature: 1` and a key `5 K`.
_DECIMAL_TAIL = re.compile(r"\d+\s*[^\W\d]\S*(?:\s+\S+)*")


def check_point_count(count: float, noun: str, hint: str) -> None:
    """Refuse a step that asks for more than MAX_POINTS `noun` (count may be a huge float)."""
    if not count <= MAX_POINTS:
        shown = f"{count:,.0f}" if count < 1e15 else "more than 10^15"
        raise UserInputError(f"{shown} {noun} asked for; one step may take at most {MAX_POINTS:,} ({hint})")


@dataclass(frozen=True)
class Param:
    """One parameter: its dimension (a key of units.SI_UNITS), default and meaning.

    Declared with `param(...)` as a class attribute of a procedure, whose name it takes;
    on a built procedure the attribute reads the converted value (SI units).

    `many=True` takes a list of quantities (e.g. the turning points of a sweep);
    `count` fixes its length (e.g. 2 for a [start, stop] range).
    `positive=True` refuses zero and negative values.
    `choices` makes it a word from a fixed set (dimension "text"); dimension "flag"
    takes true/false; dimension "probes" takes named points, {name: [x, y]} (m);
    dimension "leads" takes the names of two of the sample's leads, [source, drain].
    """

    dimension: str
    default: Any = REQUIRED
    doc: str = ""
    many: bool = False
    positive: bool = False
    count: int | None = None
    choices: tuple[str, ...] = ()
    # the StationLimits field its values are checked against, where not the dimension's
    # usual one (a SQUID bias is a current, checked against squid_bias); "" for none
    limit: str | None = None
    name: str = ""  # the attribute's name, set when the class is created

    def __set_name__(self, owner: type, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance.values[self.name]

    @property
    def units(self) -> str:
        return SI_UNITS.get(self.dimension, "")

    def convert(self, raw: Any) -> Any:
        if self.dimension == "leads":
            return self._lead_pair(raw)
        if self.dimension == "text":
            if raw not in self.choices:
                raise UserInputError(f"{self.name}: expected one of {', '.join(self.choices)}, got {raw!r}")
            return raw
        if self.dimension == "probes":
            return self._probes(raw)
        if self.dimension == "flag":
            if not isinstance(raw, bool):
                raise UserInputError(f"{self.name}: expected true or false, got {raw!r}")
            return raw
        if self.many:
            if self.count is None and isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
                raw = [raw]  # one value where a list is allowed
            if not isinstance(raw, list) or not raw:
                raise UserInputError(f"{self.name}: expected a non-empty list, got {raw!r}")
            if self.count is not None and len(raw) != self.count:
                raise UserInputError(f"{self.name}: expected {self.count} values, got {len(raw)}")
            return [self._one(item) for item in raw]
        return self._one(raw)

    def _lead_pair(self, raw: Any) -> tuple[str, str]:
        named = isinstance(raw, list) and all(isinstance(name, str) and name.strip() for name in raw)
        if not (named and len(raw) == 2):
            raise UserInputError(f"{self.name}: expected two lead names [source, drain], got {raw!r}")
        if raw[0] == raw[1]:
            raise UserInputError(f"{self.name}: source and drain are the same lead {raw[0]!r}")
        return (raw[0].strip(), raw[1].strip())

    def _probes(self, raw: Any) -> dict[str, tuple[float, float]]:
        if not isinstance(raw, dict) or not raw:
            raise UserInputError(f"{self.name}: expected named points, e.g. {{lower: [30 um, -15 um]}}")
        points = {}
        for name, point in raw.items():
            if not (isinstance(name, str) and name.isidentifier()):
                raise UserInputError(f"{self.name}: point names must be words (letters, digits, _), got {name!r}")
            if not (isinstance(point, list) and len(point) == 2):
                raise UserInputError(f"{self.name}.{name}: expected [x, y], got {point!r}")
            try:
                points[name] = (to_si(point[0], "length"), to_si(point[1], "length"))
            except UserInputError as error:
                raise UserInputError(f"{self.name}.{name}: {error}") from None
        return points

    def _one(self, raw: Any) -> float:
        try:
            value = to_si(raw, self.dimension)
        except UserInputError as error:
            raise UserInputError(f"{self.name}: {error}") from None
        if self.positive and not value > 0:
            raise UserInputError(f"{self.name}: must be positive, got {raw!r}")
        return value


def param(
    dimension: str,
    default: Any = REQUIRED,
    doc: str = "",
    *,
    many: bool = False,
    positive: bool = False,
    count: int | None = None,
    choices: tuple[str, ...] = (),
    limit: str | None = None,
) -> Any:
    """Declare a procedure parameter (see `Param`). Typed `Any` so that the attribute's
    annotation (`float`, `list[float]`...) is what type checkers see."""
    return Param(dimension, default, doc, many, positive, count, choices, limit)


class Procedure(ABC):
    """Base of every procedure. Subclasses set `name`, declare parameters with `param`
    and write `run`."""

    name: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()  # every parameter, the base classes' first
    summary: ClassVar[str] = ""
    # What the station knows once the step has run ("fitted plane"), which later steps
    # may need (`needs`): a procedure file is refused when a step needs what no step
    # before it provides and the station does not know yet (ProcedureFile.check_order).
    provides: ClassVar[frozenset[str]] = frozenset()
    # False for steps that only prepare (a cool-down, a move, a setpoint): a viewer opening
    # a run file shows the first step that measures (the NeXus default, sqm.nexus).
    measures: ClassVar[bool] = True
    # True for steps that continue where an interrupted run stopped (`sqm resume`): their
    # `run` starts at `ctx.resume_from` points (a series) or lines (an image) already in the
    # file, as the uninterrupted step would have gone on from there. A step that is not
    # resumable is run again from its start.
    resumable: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            declared.update({name: value for name, value in vars(klass).items() if isinstance(value, Param)})
        cls.params = tuple(declared.values())

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @classmethod
    def from_raw(cls, raw: Any, limits: StationLimits | None = None) -> "Procedure":
        """Build from a procedure file's mapping; raises UserInputError naming the bad key.

        `limits`: the station's, when known. Its setpoints are then checked (`validate`)
        before the checks between parameters (`check_consistency`), so a value beyond
        the station's limits is refused for that reason, the one to act on, and not as,
        say, a sweep of too many points (`points: [0, 200]` is 200 A).
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise UserInputError(f"parameters must be a mapping, got {raw!r}")
        odd = [key for key in raw if not isinstance(key, str)]
        if odd:
            raise UserInputError(f"parameter names must be text, got {odd[0]!r} (quote it in the file)")
        known = {param.name: param for param in cls.params}
        _refuse_decimal_commas(raw, known)
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise UserInputError(
                f"unknown parameter(s) {', '.join(unknown)} (known: {', '.join(known) or 'none'})"
            )
        values: dict[str, Any] = {}
        for param in cls.params:
            if param.name in raw:
                values[param.name] = param.convert(raw[param.name])
            elif param.default is REQUIRED:
                raise UserInputError(f"missing required parameter '{param.name}'")
            else:
                values[param.name] = None if param.default is None else param.convert(param.default)
        procedure = cls(values)
        if limits is not None:
            procedure.validate(limits)
        procedure.check_consistency()
        return procedure

    def parameters_si(self) -> dict[str, Any]:
        """Parameter values in SI units, keyed with their unit, for the file."""
        units = {param.name: param.units for param in self.params}
        return {name: {"value": value, "units": units[name]} for name, value in self.values.items()}

    def check_consistency(self) -> None:
        """Checks between parameters that need no station (override where useful)."""

    @abstractmethod
    def validate(self, limits: StationLimits) -> None:
        """Check every setpoint this step will send against the station limits."""

    @abstractmethod
    def run(self, ctx: StepContext) -> None:
        """Do the step. Speak only to roles (ctx.station) and record through ctx."""

    def expected_points(self) -> int:
        """How many data points the step records (for progress bars); 0 if unknown."""
        return 0

    def needs(self) -> frozenset[str]:
        """What the station must know before this step runs (see `provides`)."""
        return frozenset()


def _refuse_decimal_commas(raw: dict, known: dict[str, Param]) -> None:
    """Refuse `{to_temperature: 1,5 K}` for what it is: inline, YAML reads the comma as
    the end of a parameter, leaving `to_temperature: 1` and an unknown key `5 K`."""
    keys = list(raw)
    for before, key in zip(keys, keys[1:]):
        whole = raw[before]
        if (key not in known and before in known and raw[key] is None and _DECIMAL_TAIL.fullmatch(key)
                and isinstance(whole, int) and not isinstance(whole, bool)):
            raise UserInputError(
                f"{before}: write decimals with a point: {whole}.{key}, not {whole},{key} "
                f"(inside {{...}} a comma ends a parameter)"
            )


@dataclass
class Step:
    """One line of a procedure file, parsed and validated."""

    index: int  # 1-based
    procedure: Procedure
