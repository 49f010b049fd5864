"""The one list of roles a station fills.

Each entry names a role, its interface (a class of `sqm.roles`), its place in the
safe state, and what the GUI's station panel shows of it. The station's checks and
typed access, `make_safe`'s order, both backends, `sqm instruments` and the station
panel all read this list: adding a role is one entry here plus its implementations
(a twin instrument in `sims/instruments.py`, a driver in `drivers/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .roles import (
    CurrentSource,
    Magnet,
    Role,
    Scanner,
    SquidBias,
    SquidReadout,
    TemperatureController,
    TouchdownSensor,
    Voltmeter,
)

GAUSS_PER_TESLA = 1e4
MICRO = 1e6


@dataclass(frozen=True)
class PanelReading:
    """One line of the station panel: read from the role, shown in display units."""

    key: str
    title: str
    read: Callable[[Any], Any]  # role -> value in display units
    text: Callable[[Any], str]  # value -> what the label says
    run_column: str | None = None  # a run's point column with the same quantity (SI), shown during runs
    display_per_si: float = 1.0  # display units per SI unit of `run_column`
    alarm: Callable[[Any], bool] = lambda value: False  # shown in red when true


@dataclass(frozen=True)
class RoleEntry:
    name: str  # the key in station files and run files
    role_type: type[Role]
    safe_order: int  # safe states run in increasing order
    panel: tuple[PanelReading, ...] = ()
    # A station may go without an optional role; a step that needs it is then refused
    # before anything moves (StationLimits.require_role).
    required: bool = True


ROLES: tuple[RoleEntry, ...] = (
    # The bias goes to zero first; then z retracts (the sensor must not wait near the
    # surface); then the magnet ramps down; then the rest.
    RoleEntry("current_source", CurrentSource, safe_order=0, panel=(
        PanelReading("bias", "bias current", lambda role: role.read_current() * MICRO, "{:.2f} uA".format,
                     run_column="bias_current", display_per_si=MICRO),
    )),
    RoleEntry("voltmeter", Voltmeter, safe_order=5),
    RoleEntry("magnet", Magnet, safe_order=2, panel=(
        PanelReading("field", "field", lambda role: role.read_field() * GAUSS_PER_TESLA, "{:.4f} G".format,
                     run_column="field", display_per_si=GAUSS_PER_TESLA),
    )),
    RoleEntry("temperature", TemperatureController, safe_order=3, panel=(
        PanelReading("temperature", "temperature", lambda role: role.read_temperature(), "{:.3f} K".format,
                     run_column="temperature"),
    )),
    RoleEntry("scanner", Scanner, safe_order=1, panel=(
        PanelReading("position", "scanner x, y, z", lambda role: tuple(v * MICRO for v in role.position()),
                     lambda position: "{:.2f}, {:.2f}, {:.2f} um".format(*position)),
    )),
    RoleEntry("squid", SquidReadout, safe_order=4, panel=(
        PanelReading("locked", "SQUID lock", lambda role: role.is_locked(),
                     lambda locked: "locked" if locked else "UNLOCKED", alarm=lambda locked: not locked),
    )),
    RoleEntry("touchdown", TouchdownSensor, safe_order=6, required=False),
    # The SQUID's own bias: zeroed right after the sample's bias (before z moves and the
    # magnet ramps), so nothing else switching can spike a biased nano-SQUID.
    RoleEntry("squid_bias", SquidBias, safe_order=0, required=False, panel=(
        PanelReading("squid_bias", "SQUID bias", lambda role: role.read_current() * MICRO, "{:.2f} uA".format,
                     run_column="squid_bias", display_per_si=MICRO),
    )),
)

ROLE_NAMES: tuple[str, ...] = tuple(entry.name for entry in ROLES)
REQUIRED_ROLE_NAMES: tuple[str, ...] = tuple(entry.name for entry in ROLES if entry.required)
ROLE_TYPES: dict[str, type[Role]] = {entry.name: entry.role_type for entry in ROLES}
SAFE_STATE_ORDER: tuple[str, ...] = tuple(entry.name for entry in sorted(ROLES, key=lambda entry: entry.safe_order))


def role_name_of(role_type: type[Role]) -> str:
    """The station's name for the role with interface `role_type`."""
    for entry in ROLES:
        if entry.role_type is role_type:
            return entry.name
    raise KeyError(f"{role_type.__name__} is not in the role list (sqm/role_list.py)")
