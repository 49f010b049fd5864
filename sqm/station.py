"""The station: role instances built from a station file, with limits and a clock.

A station file names a backend (`backend: sim` for the twin); the backend is found
by name through the `sqm.backends` entry-point group, so the core imports no
implementation. The backend builds the roles and the clock; the station attaches
the limits and knows how to make everything safe.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar, cast

import yaml

from .clock import Clock
from .errors import InstrumentError, UserInputError
from .interlocks import InterlockSet
from .limits import LeadRouting, StationLimits
from .role_list import REQUIRED_ROLE_NAMES, ROLE_NAMES, ROLE_TYPES, role_name_of
from .roles import CurrentSource, Magnet, Role, Scanner, SquidReadout, TemperatureController, Voltmeter
from .safe_state import make_station_safe

R = TypeVar("R", bound=Role)

BACKEND_GROUP = "sqm.backends"
# What a backend's module may define next to its builder: `validate_config(block, limits)`,
# raising UserInputError for a bad block without opening or configuring anything.
BACKEND_VALIDATOR = "validate_config"
# ... and `lead_routing(block)`: the sample's leads a step may name (a limits.LeadRouting), when
# the backend knows them; a station whose backend has none refuses steps that name leads.
BACKEND_LEADS = "lead_routing"
# ... and `role_names(block)`: the roles the block fills, optional ones included (default: all).
BACKEND_ROLES = "role_names"
DEFAULT_STATION = Path(__file__).resolve().parent.parent / "configs" / "stations" / "sim.yaml"
_STATION_KEYS = {"name", "backend", "limits", "interlocks", "description", "metadata"}
# What a station file's `metadata:` block may say of the runs made on it (stored in each
# run file; `sqm run --sample/--operator/--cooldown/--note` override them for one run).
METADATA_KEYS = ("sample", "operator", "cooldown", "note")


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
    # The sample, where the backend knows it (the twin: its sample file): name, file,
    # text, ... stored with every run and shown by `sqm show`. Texts only.
    sample: dict[str, str] = field(default_factory=dict)
    # The instruments' state lives in this process (the twin): a crash loses it, so a resumed
    # run (sqm.resume) replays the run so far on a fresh backend before it goes on. Real
    # instruments keep their state across a crash of the program: False.
    state_in_process: bool = False

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
    interlock_config: dict = field(default_factory=dict)  # the file's `interlocks:` block, as written
    # ... and as validated (see InterlockSet.from_config, and without_pauses() for unattended runs)
    interlocks: InterlockSet = field(default_factory=lambda: InterlockSet.from_config({}))
    # who runs on it, on what sample, in which cool-down (texts; METADATA_KEYS)
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_STATION, tolerant: bool = False) -> "Station":
        """Build from a station file. `tolerant`: open what answers, list the rest in
        backend.failures (for `sqm instruments`), instead of refusing the station."""
        text = read_text_file(path, "station file")
        return cls.from_text(text, source=str(path), tolerant=tolerant)

    @classmethod
    def from_text(cls, text: str, source: str = "<station>", tolerant: bool = False) -> "Station":
        """Validate the whole file first (as `sqm check` does: _StationHeader.parse), then
        build the backend; nothing is opened for a file that would be refused."""
        header = _StationHeader.parse(text, source)
        builder = header.entry_point.load()
        try:
            backend = builder(header.backend_block, header.limits, tolerant=tolerant)
        except UserInputError as error:
            raise UserInputError(f"{source}: {error}") from None
        if not backend.failures:
            _check_roles(backend.roles, source)
        for role in backend.roles.values():
            role.attach_limits(header.limits)
        return cls(
            name=header.name,
            text=text,
            backend=backend,
            limits=header.limits,
            interlock_config=dict(header.data.get("interlocks") or {}),
            interlocks=header.interlocks,
            metadata=header.metadata,
        )

    # Typed access for procedures: `role(Kind)` for any role of the list, and a
    # property for each of the six every station has.
    def role(self, role_type: type[R]) -> R:
        """The station's role of interface `role_type` (see `sqm.role_list`)."""
        name = role_name_of(role_type)
        if name not in self.backend.roles:  # an optional role this station goes without
            raise InstrumentError(f"this station has no {name} ({role_type.__name__}) role")
        return cast(R, self.backend.roles[name])  # its type is checked when built

    def has_role(self, role_type: type[R]) -> bool:
        return role_name_of(role_type) in self.backend.roles

    @property
    def clock(self) -> Clock:
        return self.backend.clock

    @property
    def current_source(self) -> CurrentSource:
        return self.role(CurrentSource)

    @property
    def magnet(self) -> Magnet:
        return self.role(Magnet)

    @property
    def temperature(self) -> TemperatureController:
        return self.role(TemperatureController)

    @property
    def scanner(self) -> Scanner:
        return self.role(Scanner)

    @property
    def squid(self) -> SquidReadout:
        return self.role(SquidReadout)

    @property
    def voltmeter(self) -> Voltmeter:
        return self.role(Voltmeter)

    def snapshot(self) -> dict[str, dict]:
        """Every role's snapshot; a role that fails says why instead of hiding the others."""
        result: dict[str, dict] = {}
        for name, role in self.backend.roles.items():
            try:
                result[name] = role.snapshot()
            except Exception as error:  # a snapshot must never stop a run from being recorded
                result[name] = {"error": f"{type(error).__name__}: {error}"}
            if role.location:  # the file says which instruments were on another PC
                result[name] = {**result[name], "reached_via": role.location}
        return result

    def make_safe(self) -> list[str]:
        """Bring every role to its safe state, retrying faults (see `sqm.safe_state`).

        Returns what could not be confirmed safe (empty when the station is safe).
        """
        return make_station_safe(self.backend.roles, self.clock)

    def close(self) -> None:
        self.backend.close()


def read_station_limits(path: str | Path) -> tuple[str, StationLimits]:
    """The name and limits of a station file, checked as Station.from_file checks them
    (limits, interlocks and the backend's block), without building the backend: no
    instrument is opened or configured."""
    header = _StationHeader.parse(read_text_file(path, "station file"), str(path))
    return header.name, header.limits


@dataclass
class _StationHeader:
    """A station file validated whole before its backend is built: name, backend, limits,
    interlocks, and the backend's own block checked by the backend without building it.

    The one validation of a station file: `sqm check` (read_station_limits) and
    `sqm run` (Station.from_text) both go through `parse`.
    """

    data: dict
    name: str
    backend_name: str
    entry_point: importlib.metadata.EntryPoint
    limits: StationLimits
    interlocks: InterlockSet
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def backend_block(self) -> object:
        """The backend's block (`sim:`, `hardware:`); an absent or empty one is {}."""
        block = self.data.get(self.backend_name)
        return {} if block is None else block

    @classmethod
    def parse(cls, text: str, source: str) -> "_StationHeader":
        """Every check of the file; each failure is one UserInputError starting with `source`."""
        data = parse_yaml(text, source)
        if not isinstance(data, dict):
            raise UserInputError(f"{source}: a station file is a mapping with 'backend' and 'limits'")
        backend_name = data.get("backend")
        if not isinstance(backend_name, str):
            raise UserInputError(f"{source}: 'backend' is missing (e.g. 'backend: sim')")
        entry_point = _find_backend(backend_name, source)
        unknown = set(data) - _STATION_KEYS - {backend_name}
        if unknown:
            raise UserInputError(f"{source}: unknown key(s) {', '.join(sorted(str(key) for key in unknown))}")
        try:
            limits = StationLimits.from_mapping(data.get("limits"))  # type: ignore[arg-type]  # checked there
            interlocks = InterlockSet.from_config(data.get("interlocks"), limits)
        except UserInputError as error:
            raise UserInputError(f"{source}: {error}") from None
        name = str(data.get("name", Path(source).stem))
        metadata = _metadata(data.get("metadata"), source)
        header = cls(data, name, backend_name, entry_point, limits, interlocks, metadata)
        routing, roles = _validate_backend_block(entry_point, header.backend_block, limits, source)
        if "squid_bias" in roles and limits.squid_bias is None:
            raise UserInputError(f"{source}: limits.squid_bias is missing (max_abs, ramp_rate, max_ramp_rate): the "
                                 "station drives a SQUID bias, and a nano-SQUID is never biased without limits")
        header.limits = dataclasses.replace(limits, leads=routing, roles=roles)
        return header


def _metadata(block: object, source: str) -> dict[str, str]:
    """A station file's `metadata:` block: texts under METADATA_KEYS, each one line."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise UserInputError(f"{source}: metadata: must be a mapping such as {{operator: A. Physicist, "
                             f"cooldown: CD-14}}, got {block!r}")
    unknown = sorted(str(key) for key in set(block) - set(METADATA_KEYS))
    if unknown:
        raise UserInputError(f"{source}: metadata: unknown key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(METADATA_KEYS)})")
    metadata = {}
    for key, value in block.items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UserInputError(f"{source}: metadata.{key}: must be text, got {value!r}")
        metadata[key] = str(value).strip()
    return metadata


def _validate_backend_block(entry_point: importlib.metadata.EntryPoint, block: object,
                            limits: StationLimits, source: str) -> tuple[LeadRouting | None, frozenset[str]]:
    """The backend's check of its block: `validate_config(block, limits)` next to its builder;
    then the sample's leads it declares (`lead_routing(block)`), if it knows them, and the
    roles it fills (`role_names(block)`, default: every role of the list).

    Only the builder's module is imported, and the functions open and configure
    nothing, so a hardware station is checked offline. A backend without a validator
    has its block checked when it is built.
    """
    try:
        module = importlib.import_module(entry_point.module)
    except ImportError as error:
        raise UserInputError(f"{source}: the backend {entry_point.name!r} cannot be loaded ({error})") from None
    validate = getattr(module, BACKEND_VALIDATOR, None)
    routing = getattr(module, BACKEND_LEADS, None)
    role_names = getattr(module, BACKEND_ROLES, None)
    try:
        if validate is not None:
            validate(block, limits)
        leads = None if routing is None else routing(block)
        roles = frozenset(ROLE_NAMES if role_names is None else role_names(block))
    except UserInputError as error:
        raise UserInputError(f"{source}: {error}") from None
    return leads, roles


def _find_backend(name: str, source: str) -> importlib.metadata.EntryPoint:
    """The entry point of a backend (not loaded: loading imports its drivers)."""
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group=BACKEND_GROUP)}
    if name not in entry_points:
        known = ", ".join(sorted(entry_points)) or "none installed"
        raise UserInputError(f"{source}: unknown backend {name!r} (known: {known})")
    return entry_points[name]


def _check_roles(roles: dict[str, Role], source: str) -> None:
    for name, role_type in ROLE_TYPES.items():
        role = roles.get(name)
        if role is None:
            if name in REQUIRED_ROLE_NAMES:
                raise InstrumentError(f"{source}: the backend fills no '{name}' role")
            continue
        if not isinstance(role, role_type):
            raise InstrumentError(f"{source}: '{name}' is a {type(role).__name__}, not a {role_type.__name__}")


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a station or procedure file (UTF-8); any failure is one UserInputError."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserInputError(f"{path}: cannot read the {what} ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise UserInputError(
            f"{path}: the {what} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateOrOddKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping, or a key that is not text."""


class StrictLoader(yaml.SafeLoader):
    """yaml.safe_load's reading, but a key repeated in one mapping, a key that is not
    text (YAML 1.1 reads `on:` as true) and a scalar Python cannot hold are errors with
    their line. Merge keys (`<<: *anchor`) still override as YAML intends."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._checked_mappings: set[int] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Called on every mapping before it is built, and on merged ones before they are
        # folded in: check the keys as written, once, before merging rewrites the list.
        if id(node) in self._checked_mappings:
            return  # already checked and merged (an anchor used twice): merging again changes nothing
        self._checked_mappings.add(id(node))
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                written = (key_node.value if isinstance(key_node, yaml.ScalarNode) else "") or "(empty)"
                raise _DuplicateOrOddKey(
                    None, None,
                    f"the key {written} is read as {key!r}, not a name; quote it ('{written}')",
                    key_node.start_mark,
                )
            if key in first_line:
                raise _DuplicateOrOddKey(
                    None, None,
                    f"the key '{key}' is given twice in the same mapping (first on line {first_line[key]})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        node.value = self._merged_pairs(node)

    def _merged_pairs(self, node: yaml.MappingNode) -> list:
        """The mapping's (key, value) pairs with its merge keys applied, each key once.

        The YAML merge rule, applied here rather than left to PyYAML (whose 6.0.3 and
        6.0.4 resolve `<<: [*a, *b]` differently): the mapping's own keys win over
        merged ones, and in a list of merged mappings an earlier one wins over a later.
        """
        own = [(key_node, value_node) for key_node, value_node in node.value if key_node.tag != _MERGE_TAG]
        sources: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            candidates = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for candidate in candidates:
                if not isinstance(candidate, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping or a list of mappings to merge, found {candidate.id}",
                        candidate.start_mark,
                    )
                self.flatten_mapping(candidate)
                sources.append(candidate)
        taken: set = set()
        pairs = []
        for key_node, value_node in own + [pair for source in sources for pair in source.value]:
            if key_node.tag == "tag:yaml.org,2002:value":
                key_node.tag = "tag:yaml.org,2002:str"
            key = self.construct_object(key_node, deep=True)
            if key in taken:
                continue  # an earlier (winning) pair already holds this key
            taken.add(key)
            pairs.append((key_node, value_node))
        return pairs

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as error:  # '2020-13-45', a 5000-digit integer, '!!float x'
            value = node.value if isinstance(node, yaml.ScalarNode) else node.tag
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown!r} ({str(error).splitlines()[0]})", node.start_mark
            ) from None


def parse_yaml(text: str, source: str) -> object:
    """A station or procedure file's YAML, read with StrictLoader; errors are one line."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader
    except _DuplicateOrOddKey as error:
        raise UserInputError(f"{source}: {_yaml_where(error)}") from None
    except yaml.YAMLError as error:
        raise UserInputError(f"{source}: not valid YAML ({_yaml_where(error)})") from None
    except RecursionError:
        raise UserInputError(f"{source}: not valid YAML (nested too deeply)") from None


def _yaml_where(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "reason", None) or "syntax error"
    position = getattr(error, "position", None)
    if mark is None and isinstance(position, int):
        return f"character {position + 1}: {problem}"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem
