"""Procedure files: YAML lists of steps, parsed and validated before anything moves.

    steps:
      - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
      - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 2 uA}

Every error names the file, the step and the value, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import UserInputError
from .limits import StationLimits
from .procedures import PROCEDURES, Step
from .station import parse_yaml, read_text_file

_FILE_KEYS = {"steps", "description"}


@dataclass
class ProcedureFile:
    source: str
    text: str
    steps: list[Step]

    def check_order(self, known: frozenset[str] = frozenset()) -> None:
        """Refuse a step that needs what no step before it provides and the station does
        not know (`known`, e.g. "fitted plane"): a scan in plane mode before any plane_fit."""
        for step in self.steps:
            missing = step.procedure.needs() - known
            if missing:
                raise UserInputError(
                    f"{self.source}: step {step.index} ({step.procedure.name}): needs a {', '.join(sorted(missing))}, "
                    "and no step before it makes one (add a plane_fit step before it)")
            known = known | step.procedure.provides

    def validate(self, limits: StationLimits) -> None:
        """Check every step against the station limits; the first failure raises."""
        for step in self.steps:
            try:
                step.procedure.validate(limits)
            except UserInputError as error:  # keep the type (LimitError stays LimitError)
                raise type(error)(f"{self.source}: step {step.index} ({step.procedure.name}): {error}") from None


def load_procedure_file(path: str | Path, limits: StationLimits | None = None) -> ProcedureFile:
    text = read_text_file(path, "procedure file")
    return parse_procedure_text(text, str(path), limits)


def parse_procedure_text(text: str, source: str = "<procedure>", limits: StationLimits | None = None) -> ProcedureFile:
    """Parse and check each step, in order; the first problem raises, naming the step.

    `limits`: the station's, when known: each step's setpoints are then checked before
    the checks between its parameters, so a value beyond the station's limits is
    refused for that reason first (see `Procedure.from_raw`). `validate` still follows.
    """
    data = parse_yaml(text, source)
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise UserInputError(f"{source}: a procedure file is a mapping with a non-empty list 'steps'")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        names = ", ".join(sorted(str(key) for key in unknown))
        raise UserInputError(f"{source}: unknown key(s) {names} (allowed: steps, description)")
    steps = []
    for index, entry in enumerate(data["steps"], start=1):
        if not (isinstance(entry, dict) and len(entry) == 1):
            raise UserInputError(f"{source}: step {index}: write each step as '- procedure_name: {{parameters}}'")
        (name, raw), = entry.items()
        if name not in PROCEDURES:
            known = ", ".join(sorted(PROCEDURES))
            raise UserInputError(f"{source}: step {index}: unknown procedure {name!r} (known: {known})")
        try:
            procedure = PROCEDURES[name].from_raw(raw, limits)
        except UserInputError as error:  # keep the type (LimitError stays LimitError)
            raise type(error)(f"{source}: step {index} ({name}): {error}") from None
        steps.append(Step(index, procedure))
    return ProcedureFile(source, text, steps)
