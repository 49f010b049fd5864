"""A form with one line edit per procedure parameter; text with units is allowed.

The form edits the *raw* values of one step (what the procedure file says, e.g.
"200 uA"); the procedure file is re-parsed from them, so every check (units,
limits, consistency) is the core's own. Lists are written comma-separated
("0, 200 uA, -200 uA"); probes and flags are YAML ("{lower: [30 um, -15 um]}",
"true"); an empty field means the parameter's default.

`readable` shows a value in units people read (uA, G, um; see `value_text`), for
the step list and tooltips; what the core does with it is unchanged.
"""

from __future__ import annotations

from typing import Any

import yaml
from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QFormLayout, QLabel, QLineEdit, QWidget

from sqm.errors import UserInputError
from sqm.procedures import PROCEDURES
from sqm.procedures.base import REQUIRED, Param

# Shown in the lab's habit rather than SI (SI unit -> shown unit, factor), as the live views do.
SHOWN_UNITS = {"T": ("G", 1e4)}
_PREFIXES = [(1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k")]


def raw_to_text(value: Any) -> str:
    """How a raw value from the procedure file is shown in a line edit."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(raw_to_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


def text_to_raw(param: Param, text: str) -> Any:
    """The raw value for the procedure file from a line edit's text (None: use the default)."""
    text = text.strip()
    if not text:
        return None
    if param.dimension in ("flag", "probes"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text  # the core then names the parameter and what it expected
    if param.many or param.dimension == "leads":
        return [item.strip() for item in text.strip("[]").split(",") if item.strip()]
    return text


def effective_value(param: Param, raw: Any) -> Any:
    """The value (SI) a step's parameter takes: the raw one converted, else the default;
    None when neither is there (or the default is None); the raw text if it does not convert."""
    if raw is None:
        if param.default is REQUIRED or param.default is None:
            return None
        raw = param.default
    try:
        return param.convert(raw)
    except UserInputError:
        return raw_to_text(raw)


def value_text(values: list[float], units: str) -> tuple[list[str], str]:
    """Numbers (SI) in one readable unit, prefixed for the largest of them:
    ([0, 2e-4], "A") -> (["0", "200"], "uA"); fields in gauss and kelvin unprefixed, seconds unprefixed above 1."""
    shown, factor = SHOWN_UNITS.get(units, (units, 1.0))
    scaled = [value * factor for value in values]
    scale, prefix = 1.0, ""
    largest = max((abs(value) for value in scaled), default=0.0)
    if shown and shown not in ("K", "G") and largest > 0:
        for candidate, candidate_prefix in _PREFIXES:
            if largest >= candidate * 0.9999999 and not (shown == "s" and candidate > 1):
                scale, prefix = candidate, candidate_prefix
    return [f"{value / scale:.4g}" for value in scaled], f"{prefix}{shown}"


def readable(param: Param, value: Any) -> str:
    """A parameter's value (as `effective_value` gives it) for people: '100 uA', '0.64 G',
    '0 -> 200 -> -200 uA' (a list of turning points), '[-50, 50] um' (a fixed-length list)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # named points
        return ", ".join(value)
    if isinstance(value, (int, float)):
        numbers, unit = value_text([float(value)], param.units)
        return f"{numbers[0]} {unit}".strip()
    if isinstance(value, list) and all(isinstance(item, (int, float)) for item in value):
        numbers, unit = value_text([float(item) for item in value], param.units)
        joined = f"[{', '.join(numbers)}]" if param.count else " -> ".join(numbers)
        return f"{joined} {unit}".strip()
    return raw_to_text(value)


def unit_hint(param: Param) -> str:
    """The unit (or kind of value) shown beside a parameter's field."""
    if param.dimension == "text":
        return " | ".join(param.choices)
    if param.dimension == "flag":
        return "true / false"
    if param.dimension == "probes":
        return "{name: [x, y]}"
    if param.dimension == "leads":
        return "source, drain"
    units = param.units or "-"
    return f"[{units}]" + (" list" if param.many else "")


class ParameterForm(QWidget):
    """Edits the raw parameters of one step. `edited(step_number, raw)` on every change."""

    edited = pyqtSignal(int, dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._edits: dict[str, QLineEdit] = {}
        self._params: dict[str, Param] = {}
        self._step_number = 0
        self._procedure = ""

    def show_step(self, step_number: int, procedure: str, raw: dict) -> None:
        """Fill the form with the parameters of `procedure` (1-based step number)."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._edits.clear()
        self._step_number, self._procedure = step_number, procedure
        cls = PROCEDURES.get(procedure)
        if cls is None:
            self._layout.addRow(QLabel(f"unknown procedure {procedure!r}"))
            return
        title = QLabel(f"<b>step {step_number}: {procedure}</b><br><small>{cls.summary}</small>")
        title.setWordWrap(True)
        self._layout.addRow(title)
        self._params = {param.name: param for param in cls.params}
        for param in cls.params:
            edit = QLineEdit(raw_to_text(raw.get(param.name)))
            default = "required" if param.default is REQUIRED else f"default: {raw_to_text(param.default) or 'none'}"
            edit.setPlaceholderText(default)
            edit.setToolTip(f"{param.doc}\n{default}")
            edit.setObjectName(f"param_{param.name}")
            edit.setCursorPosition(0)
            edit.editingFinished.connect(self._emit_edited)
            self._edits[param.name] = edit
            label = QLabel(f"{param.name} <span style='color:gray'>{unit_hint(param)}</span>")
            label.setToolTip(param.doc)
            self._layout.addRow(label, edit)

    def set_text(self, name: str, text: str) -> None:
        """Type `text` into the field of parameter `name` and commit it (tests, scripts)."""
        self._edits[name].setText(text)
        self._emit_edited()

    def raw_values(self) -> dict:
        """The step's raw parameters as the form now says (defaults left out)."""
        raw = {}
        for name, edit in self._edits.items():
            value = text_to_raw(self._params[name], edit.text())
            if value is not None:
                raw[name] = value
        return raw

    def _emit_edited(self) -> None:
        if self._step_number:
            self.edited.emit(self._step_number, self.raw_values())
