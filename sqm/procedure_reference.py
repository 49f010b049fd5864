"""The procedures' reference, generated from their parameter declarations.

Every procedure of the registry (`sqm.procedures.PROCEDURES`) with its summary and each
parameter's dimension, SI unit, default as written, what it takes (a list, how many
values, positive, a word from a set) and meaning; given a station's limits, also the
limit each parameter is checked against, printed in units as a refused setpoint's
message prints it.

    summary_table()          every procedure, one line each (`sqm procedures`)
    describe(name, limits)   one procedure in full (`sqm procedures NAME --station FILE`)
    markdown()               the whole reference (docs/procedures.md)

docs/procedures.md is this module's output: `python -m sqm.procedure_reference >
docs/procedures.md` after changing a declaration (a test fails until it is redone).
"""

from __future__ import annotations

from typing import Any

from .errors import UserInputError
from .limits import Range, Rate, StationLimits
from .procedures import PROCEDURES
from .procedures.base import REQUIRED, Param, Procedure
from .units import SI_UNITS, format_si

REGENERATE = "python -m sqm.procedure_reference > docs/procedures.md"

# Which station limit a parameter's values are checked against, by dimension (a field of
# StationLimits). Lengths go by name (see _limit_names): a position or a height is a
# scanner limit, a size (pixel_size, spacing) none.
_LIMIT_BY_DIMENSION: dict[str, tuple[str, ...]] = {
    "current": ("bias_current",),
    "field": ("field",),
    "temperature": ("temperature",),
    "current_rate": ("bias_ramp",),
    "field_rate": ("field_ramp",),
    "probes": ("scanner_x", "scanner_y"),
}
# Amounts of a dimension that are no setpoint: a step between readings, a settling tolerance.
_NO_SETPOINT = frozenset({"step", "tolerance"})
# Each limit's key in a station file's `limits:` block.
_LIMIT_KEYS: dict[str, str] = {
    "bias_current": "limits.bias_current",
    "bias_ramp": "limits.bias_current.max_ramp_rate",
    "field": "limits.field",
    "field_ramp": "limits.field.max_ramp_rate",
    "temperature": "limits.temperature",
    "scanner_x": "limits.scanner.x",
    "scanner_y": "limits.scanner.y",
    "scanner_z": "limits.scanner.z",
    "squid_bias": "limits.squid_bias",
    "squid_bias_ramp": "limits.squid_bias.max_ramp_rate",
}


def summary_table() -> str:
    """Every procedure, one line each: its name and its one-line summary."""
    width = max(len(name) for name in PROCEDURES)
    return "\n".join(f"{name:<{width}}  {cls.summary}" for name, cls in PROCEDURES.items())


def describe(name: str, limits: StationLimits | None = None) -> str:
    """One procedure: its summary, then each parameter (dimension, SI unit, what it takes,
    default, meaning) and, with `limits`, the station limit its values are checked against.

    An unknown `name` is a UserInputError listing the known ones.
    """
    cls = procedure_class(name)
    lines = [f"{cls.name}: {cls.summary}", ""]
    if not cls.params:
        lines.append("no parameters")
        return "\n".join(lines)
    lines.append("parameters (quantities as a number and a unit, e.g. '2 uA'; a bare number is SI):")
    width = max(len(param.name) for param in cls.params)
    indent = " " * (width + 4)
    for param in cls.params:
        kind = param.dimension + (f" ({unit(param)})" if unit(param) else "")
        default = "required" if param.default is REQUIRED else f"default: {default_text(param)}"
        lines.append(f"  {param.name:<{width}}  " + "; ".join(filter(None, (kind, takes(param), default))))
        if param.doc:
            lines.append(indent + param.doc)
        limit = limit_text(param, limits) if limits is not None else limit_key(param)
        if limit:
            lines.append(indent + ("station limit: " if limits is not None else "checked against: ") + limit)
    return "\n".join(lines)


def markdown() -> str:
    """The whole reference as Markdown: an index, then a section with a table of
    parameters per procedure, in the registry's order. Depends on the declarations alone."""
    out = [
        "# Procedures",
        "",
        "<!-- Generated from the parameter declarations in sqm/procedures/; do not edit by hand.",
        f"     Regenerate: {REGENERATE} -->",
        "",
        "Every procedure a procedure file may name, and every parameter it takes. Quantities are",
        "written as a number and a unit (`2 uA`, `0.5 G`, `1.5 K`, `20 um`); a bare number is SI.",
        "A default of *station's default* is the `ramp_rate` of the station file's `limits:`; a",
        "parameter *not set* is simply left out (its meaning says what the step then does without",
        "it). The last column is the station-file limit every value is checked against before",
        "anything moves; `sqm procedures NAME --station FILE` prints one procedure with that",
        "station's limits.",
        "",
        "| procedure | what it does |",
        "|---|---|",
    ]
    out += [f"| [`{name}`](#{name}) | {_cell(cls.summary)} |" for name, cls in PROCEDURES.items()]
    for name, cls in PROCEDURES.items():
        out += ["", f"## {name}", "", cls.summary, ""]
        if not cls.params:
            out.append("No parameters.")
            continue
        out += [
            "| parameter | dimension | unit | default | takes | meaning | station limit |",
            "|---|---|---|---|---|---|---|",
        ]
        for param in cls.params:
            key = limit_key(param)
            cells = (
                f"`{param.name}`",
                param.dimension,
                unit(param) or "-",
                "**required**" if param.default is REQUIRED else default_text(param),
                takes(param) or "-",
                param.doc or "-",
                f"`{key}`" if key else "-",
            )
            out.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(out) + "\n"


def procedure_class(name: str) -> type[Procedure]:
    """The procedure called `name`; UserInputError listing the known ones otherwise."""
    if name not in PROCEDURES:
        raise UserInputError(f"unknown procedure {name!r} (known: {', '.join(PROCEDURES)})")
    return PROCEDURES[name]


def unit(param: Param) -> str:
    """The SI unit its values are converted to ('' for a flag or a word)."""
    return "m" if param.dimension == "probes" else param.units


def default_text(param: Param) -> str:
    """The default as written in the declaration: '2 uA', '[0, 300 uA]', 'false';
    'required'; for a None default, "station's default" (a rate) or 'not set'."""
    if param.default is REQUIRED:
        return "required"
    if param.default is None:
        return "station's default" if param.dimension.endswith("_rate") else "not set"
    return _written(param.default)


def takes(param: Param) -> str:
    """What a value looks like beyond its dimension: a list, how many values, positive, choices."""
    if param.dimension == "flag":
        return "true or false"
    if param.dimension == "text":
        return "one of: " + ", ".join(param.choices)
    if param.dimension == "probes":
        return "named points {name: [x, y]}"
    if param.dimension == "leads":
        return "two of the sample's lead names [source, drain]"
    parts = []
    if param.many:
        parts.append(f"a list of {param.count} values" if param.count is not None else "one value or a list")
    if param.positive:
        parts.append("positive")
    return ", ".join(parts)


def limit_key(param: Param) -> str:
    """The station-file key(s) of the limits its values are checked against ('' if none)."""
    if param.dimension == "leads":
        return "the sample's leads"
    return ", ".join(_LIMIT_KEYS[name] for name in _limit_names(param))


def limit_text(param: Param, limits: StationLimits) -> str:
    """The limits its values are checked against on this station, in units ('' if none)."""
    if param.dimension == "leads":
        routing = limits.leads
        if routing is None:
            return "none: this station's wiring is fixed"
        return f"{', '.join(routing.names)} ({routing.declared_in}; default {' -> '.join(routing.default)})"
    shown = []
    for name in _limit_names(param):
        limit = getattr(limits, name)
        if limit is None:
            shown.append(f"none on this station ({_LIMIT_KEYS[name]} not given)")
            continue
        shown.append(f"{_limit_value(limit)} ({_LIMIT_KEYS[name]})")
    return "; ".join(shown)


def _limit_names(param: Param) -> tuple[str, ...]:
    if param.limit is not None:
        return (param.limit,) if param.limit else ()
    if param.name in _NO_SETPOINT:
        return ()
    if param.dimension == "length":
        if param.name.endswith("height"):
            return ("scanner_z",)
        if param.name in ("x", "y"):
            return (f"scanner_{param.name}",)
        if param.count == 2:  # a point [x, y]
            return ("scanner_x", "scanner_y")
        return ()  # a size: pixel_size, spacing
    return _LIMIT_BY_DIMENSION.get(param.dimension, ())


def _limit_value(limit: Range | Rate) -> str:
    """As a refused setpoint's LimitError prints it (sqm.limits)."""
    si = SI_UNITS[limit.dimension]
    if isinstance(limit, Rate):
        return f"{limit.quantity} (0, {format_si(limit.maximum, si)}], default {format_si(limit.default, si)}"
    return f"{limit.quantity} [{format_si(limit.minimum, si)}, {format_si(limit.maximum, si)}]"


def _written(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_written(item) for item in value) + "]"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    print(markdown(), end="")
