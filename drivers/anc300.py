"""Attocube ANC300 as the station's `Scanner`: slow positioning through DC offsets.

The fine x, y, z positions are the DC offset voltages (`seta <axis> <V>`, read back
with `geta <axis>`) of three ANC300 axes in offset mode (`off`), times a calibration
per axis. Coarse stick-slip steps (`setm <axis> stp`, `stepu|stepd <axis> <n>`,
`stepw`, `stop`) go to separate axes with `coarse_step`.

This scanner is for parking and slow scans: `_scan_line` moves point by point and
reads the SQUID at each point (not hardware-timed). Fast, hardware-timed lines are
the NI-DAQ scanner's job.

Station file block::

    scanner:
      driver: anc300_scanner
      address: "TCPIP::anc300.lab::7230::SOCKET"
      password: "123456"       # optional: omit where there is no login (pyvisa-sim)
      cold: true               # which voltage limits are in force: cold or warm
      piezo_speed: 1 um/s      # fine moves go this fast, in steps through the pacer
      axes:
        x: {axis: 4, meters_per_volt: 1 um/V, center_volts: 75, warm_volts: [55, 95], cold_volts: [20, 130]}
        y: {axis: 5, meters_per_volt: 1 um/V, center_volts: 75, warm_volts: [55, 95], cold_volts: [20, 130]}
        z: {axis: 6, meters_per_volt: 0.1 um/V, surface_volts: 20, warm_volts: [0, 60], cold_volts: [0, 140]}
      coarse_axes: {x: 1, y: 2, z: 3}   # optional: stick-slip positioners for coarse_step
      query_delay: 0.05 s      # optional: pause between a query and its reply (pymeasure's default)

Positions: x = (V_x - center_volts) * meters_per_volt, likewise y; the height above
the surface is z = (V_z - surface_volts) * meters_per_volt, where `surface_volts` is
the z offset at which the sensor touches the surface (from a touchdown). A negative
`meters_per_volt` means more voltage moves the other way.

Safety:
* Every offset voltage a move would send is checked against the active (cold or
  warm) limits of its axis before the first command of the move; one outside them
  refuses the whole move (LimitError). Warm piezos depolarise at cold voltages.
* Moves start from the offset the controller reports, never a remembered one.
* After coarse steps the surface is unknown: z heights cannot be computed, so
  approaching is refused until a new touchdown is recorded (`set_surface_volts`),
  and lateral moves and scans are refused until a z move relative to that new
  surface (retract or approach) has been made. A retract while the surface is
  unknown withdraws z fully (to the end of its voltage limits away from the sample).
* A retract is never refused for asking too much: where the top of the station's z
  range lies beyond the active z voltage limits, it stops at the limit on the side
  away from the sample (`highest_reachable_z`). An approach beyond them is refused.
* Before coarse steps the fine z is withdrawn fully, and the stepping axis is grounded
  afterwards (also on abort, after `stop`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.attocube import ANC300Controller
from pymeasure.instruments.attocube.anc300 import Axis

from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.pacing import Pacer
from sqm.roles import ScanLine, Scanner, SquidReadout

from .base import (
    CAST_NUMBER,
    Expected,
    HardwareContext,
    check_known_keys,
    connected,
    guarded,
    quantity_setting,
    setting,
    unlogged,
)
from .scpi import log_wire, query

logger = logging.getLogger(__name__)

SCAN_AXES = ("x", "y", "z")
ANC300_AXIS_NUMBERS = range(1, 8)  # the seven module slots
OFFSET_RANGE_V = (0.0, 150.0)  # what `seta` accepts
VOLTAGE_RESOLUTION_DECIMALS = 3  # `seta` takes mV; checks use the value that is sent
# A fine move is cut into steps this far apart in time (s).
MOVE_STEP_INTERVAL_S = 0.05
# Modes of a fine axis in which its `seta` offset is what the piezo gets. (stp+/stp- also add
# the offset, but they belong to stepping axes, and pymeasure reads them back as "stp".)
OFFSET_MODES = ("off",)


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError("not positive")
    return value


# What `geta` and `getf` must answer (after pymeasure's parsing).
VOLTAGE = Expected("a voltage", CAST_NUMBER.convert)
FREQUENCY = Expected("a frequency", lambda reply: _positive(CAST_NUMBER.convert(reply)))


class ANC300Console(ANC300Controller):
    """pymeasure's ANC300Controller, with the login made optional and axes addressed by
    their slot number.

    pymeasure always sends a password and expects "Authorization success", which a
    simulated instrument (pyvisa-sim) cannot answer, and the serial port needs no
    login at all. Here `passwd=None` skips the login; `login(passwd)` does it later.
    """

    def __init__(
        self,
        adapter,
        name="attocube ANC300 Piezo Controller",
        axisnames=(),
        passwd=None,
        query_delay=0.05,
        **kwargs,
    ):
        self.query_delay = query_delay
        self.termination_str = "\r\n"
        # Skip ANC300Controller.__init__: it logs in unconditionally.
        Instrument.__init__(
            self,
            adapter,
            name,
            includeSCPI=False,
            read_termination=self.termination_str,
            write_termination=self.termination_str,
            **kwargs,
        )
        self._axisnames = list(axisnames)
        for index, axis_name in enumerate(self._axisnames):
            setattr(self, axis_name, self.add_child(Axis, id=str(index + 1)))
        self._numbered_axes: dict[int, Axis] = {}
        if passwd is not None:
            self.login(passwd)

    def login(self, passwd: str) -> None:
        """Send the console password (TCP port 7230) and switch the echo off."""
        self.wait_for()
        # The greeting on connect holds non-ASCII characters: discard it.
        self.adapter.flush_read_buffer()
        with unlogged(self.adapter):  # the wire log never holds the password
            self.write(passwd)
            self.wait_for()
            Instrument.read(self)  # the echo of the password, as stars
        reply = Instrument.read(self)
        if reply != "Authorization success":
            raise ConnectionError(f"ANC300 authorization failed: {reply!r}")
        self.ask("echo off")

    def axis(self, number: int) -> Axis:
        """The axis in module slot `number` (1-7)."""
        if number not in self._numbered_axes:
            self._numbered_axes[number] = self.add_child(
                Axis, id=str(number), collection="numbered_axes", prefix="axis_"
            )
        return self._numbered_axes[number]


def _voltage_span(config: dict, key: str) -> tuple[float, float]:
    span = setting(config, key)
    if not (isinstance(span, (list, tuple)) and len(span) == 2):
        raise UserInputError(f"{key} must be [min, max] in V, got {span!r}")
    low, high = (quantity_setting({key: value}, key, "V") for value in span)
    if not OFFSET_RANGE_V[0] <= low < high <= OFFSET_RANGE_V[1]:
        raise UserInputError(
            f"{key} [{low:g}, {high:g}] V must be an interval inside the ANC300 offset range "
            f"[{OFFSET_RANGE_V[0]:g}, {OFFSET_RANGE_V[1]:g}] V"
        )
    return low, high


@dataclass(frozen=True)
class PiezoAxis:
    """One fine axis: its ANC300 slot, calibration and voltage limits."""

    name: str  # x, y or z
    number: int  # ANC300 module slot, 1-7
    meters_per_volt: float  # m/V, signed
    warm_volts: tuple[float, float]  # V, allowed offset at room temperature
    cold_volts: tuple[float, float]  # V, allowed offset cold

    def limits(self, cold: bool) -> tuple[float, float]:
        return self.cold_volts if cold else self.warm_volts

    @classmethod
    def from_config(cls, name: str, block: dict) -> tuple["PiezoAxis", float | None]:
        """The axis and its reference voltage (x, y: center_volts; z: surface_volts, may be absent)."""
        if not isinstance(block, dict):
            raise UserInputError(f"axes.{name} must be a mapping")
        reference_key = "surface_volts" if name == "z" else "center_volts"
        try:
            check_known_keys(block, {"axis", "meters_per_volt", reference_key, "warm_volts", "cold_volts"})
            number = setting(block, "axis")
            if isinstance(number, bool) or number not in ANC300_AXIS_NUMBERS:
                raise UserInputError(f"axis must be an ANC300 slot 1-7, got {number!r}")
            meters_per_volt = quantity_setting(block, "meters_per_volt", "m/V")
            if meters_per_volt == 0:
                raise UserInputError("meters_per_volt must not be zero")
            warm, cold = _voltage_span(block, "warm_volts"), _voltage_span(block, "cold_volts")
            axis = cls(name, number, meters_per_volt, warm, cold)
            reference = quantity_setting(block, reference_key, "V", default=None if name == "z" else ...)
        except UserInputError as error:
            raise UserInputError(f"axes.{name}: {error}") from None
        return axis, reference


def _rounded(volts: float) -> float:
    return round(volts, VOLTAGE_RESOLUTION_DECIMALS)


class ANC300Scanner(Scanner):
    """x, y (m) and height z (m) from the offset voltages of three ANC300 axes.

    Build it around an open `ANC300Console` (tests use pymeasure's protocol adapter) or
    from a station-file block with `from_config`. Sends nothing until asked.
    """

    def __init__(
        self,
        controller: ANC300Console,
        axes: dict[str, PiezoAxis],
        center_volts: dict[str, float],
        cold: bool,
        piezo_speed: float,
        surface_volts: float | None = None,
        coarse_axes: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        if set(axes) != set(SCAN_AXES):
            raise UserInputError(f"axes must be exactly x, y and z, got {', '.join(sorted(axes)) or 'none'}")
        if set(center_volts) != {"x", "y"}:
            raise UserInputError("center_volts must be given for x and y")
        if not isinstance(cold, bool):
            raise UserInputError(f"cold must be true or false, got {cold!r}")
        if not piezo_speed > 0:
            raise UserInputError(f"piezo_speed must be positive (m/s), got {piezo_speed!r}")
        coarse_axes = dict(coarse_axes or {})
        if not set(coarse_axes) <= set(SCAN_AXES):
            unknown = ", ".join(sorted(set(coarse_axes) - set(SCAN_AXES)))
            raise UserInputError(f"coarse_axes: unknown axis names {unknown}")
        for name, number in coarse_axes.items():
            if isinstance(number, bool) or number not in ANC300_AXIS_NUMBERS:
                raise UserInputError(f"coarse_axes.{name} must be an ANC300 slot 1-7, got {number!r}")
        references = {"center_volts x": center_volts["x"], "center_volts y": center_volts["y"]}
        if surface_volts is not None:
            references["surface_volts"] = surface_volts
        for name, volts in references.items():
            if not OFFSET_RANGE_V[0] <= volts <= OFFSET_RANGE_V[1]:
                raise UserInputError(f"{name} {volts:g} V is outside the ANC300 offset range 0-150 V")
        numbers = [axis.number for axis in axes.values()] + list(coarse_axes.values())
        if len(set(numbers)) != len(numbers):
            # Stepping a fine axis would drop its offset (mode stp): the piezo would jump.
            raise UserInputError(f"each fine and coarse axis needs its own ANC300 slot, got {numbers}")
        self.controller = controller
        log_wire(controller, "ANC300", logger)
        self.axes = dict(axes)
        self.cold = cold
        self.piezo_speed = float(piezo_speed)
        self.coarse_axes = coarse_axes
        self._zero_volts: dict[str, float | None] = {"x": center_volts["x"], "y": center_volts["y"], "z": surface_volts}
        # Until a z move relative to a known surface, lateral moves are refused.
        self.approach_required = surface_volts is None

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "ANC300Scanner":
        """Check a station-file block, open the controller (logging in if a password is given),
        check the fine axes are in offset mode."""
        check_known_keys(config, {"address", "password", "cold", "piezo_speed", "axes", "coarse_axes", "query_delay"})
        address = str(setting(config, "address"))
        password = setting(config, "password", default=None)
        query_delay = setting(config, "query_delay", "time", default=0.05)
        axes_block = setting(config, "axes")
        if not isinstance(axes_block, dict):
            raise UserInputError("axes must be a mapping with x, y and z")
        axes, references = {}, {}
        for name in SCAN_AXES:
            if name not in axes_block:
                raise UserInputError(f"axes.{name} is missing")
            axes[name], references[name] = PiezoAxis.from_config(name, axes_block[name])
        unknown = set(axes_block) - set(SCAN_AXES)
        if unknown:
            raise UserInputError(f"axes: unknown axis names {', '.join(sorted(unknown))}")
        coarse_axes = setting(config, "coarse_axes", default={})
        if not isinstance(coarse_axes, dict):
            raise UserInputError("coarse_axes must be a mapping such as {x: 1, y: 2, z: 3}")
        arguments = dict(
            axes=axes,
            center_volts={"x": references["x"], "y": references["y"]},
            cold=setting(config, "cold"),
            piezo_speed=quantity_setting(config, "piezo_speed", "m/s"),
            surface_volts=references["z"],
            coarse_axes=coarse_axes,
        )
        cls(None, **arguments)  # every check of the block, before the instrument is opened
        adapter = context.visa_adapter(address, read_termination="\r\n", write_termination="\r\n")
        try:
            passwd = None if password is None else str(password)
            console = ANC300Console(adapter, passwd=passwd, query_delay=query_delay)
        except Exception as error:  # the login fails in several ways; the operator needs why
            raise InstrumentError(f"{address}: ANC300 login: {type(error).__name__}: {error}") from None
        scanner = cls(console, **arguments)
        return connected(scanner, address)

    def connect(self) -> None:
        """Refuse to drive fine axes whose offset does not reach the piezo (mode not offset)."""
        self.identity()
        for name, axis in self.axes.items():
            mode = guarded(f"ANC300 getm {axis.number}", lambda: self.controller.axis(axis.number).mode)
            if mode not in OFFSET_MODES:
                raise InstrumentError(
                    f"ANC300 axis {axis.number} ({name}) is in mode {mode!r}; put it in offset mode ('off') "
                    "at its present offset before connecting: switching it here would jump the piezo"
                )

    # --- identity, snapshot

    def identity(self) -> str:
        version = str(guarded("ANC300 ver", lambda: self.controller.version))
        return version.strip().splitlines()[0].strip() if version.strip() else version

    def voltage_limits(self, name: str) -> tuple[float, float]:
        """The offset range (V) in force on fine axis `name` (cold or warm)."""
        return self.axes[name].limits(self.cold)

    def offset_volts(self, name: str) -> float:
        """The offset voltage (V) the controller reports for fine axis `name`."""
        number = self.axes[name].number
        return query(
            f"ANC300 geta {number}", lambda: self.controller.axis(number).offset_voltage, VOLTAGE, source="controller"
        )

    def _volts_to_position(self, name: str, volts: float) -> float:
        zero = self._zero_volts[name]
        if zero is None:
            return math.nan  # the surface is unknown: the height is not a number we have
        return (volts - zero) * self.axes[name].meters_per_volt

    def _position_to_volts(self, name: str, meters: float) -> float:
        zero = self._zero_volts[name]
        assert zero is not None
        return _rounded(zero + meters / self.axes[name].meters_per_volt)

    def position(self) -> tuple[float, float, float]:
        """(x, y, z) in m from the reported offsets; z is NaN while the surface is unknown."""
        x, y, z = (self._volts_to_position(name, self.offset_volts(name)) for name in SCAN_AXES)
        return x, y, z

    def snapshot(self) -> dict:
        volts = {name: self.offset_volts(name) for name in SCAN_AXES}
        x, y, z = (self._volts_to_position(name, volts[name]) for name in SCAN_AXES)
        return {
            "identity": self.identity(),
            "x_m": x,
            "y_m": y,
            "z_m": z,
            "offset_volts": volts,
            "cold": self.cold,
            "voltage_limits": {name: list(self.voltage_limits(name)) for name in SCAN_AXES},
            "meters_per_volt": {name: axis.meters_per_volt for name, axis in self.axes.items()},
            "center_volts": {name: self._zero_volts[name] for name in ("x", "y")},
            "surface_volts": self._zero_volts["z"],
            "approach_required": self.approach_required,
        }

    # --- fine moves

    def _check_volts(self, name: str, volts: float) -> None:
        low, high = self.voltage_limits(name)
        if not low <= volts <= high:
            state = "cold" if self.cold else "warm"
            raise LimitError(
                f"{name} piezo offset {volts:.3f} V is outside the {state} limits [{low:g}, {high:g}] V "
                f"of ANC300 axis {self.axes[name].number}"
            )

    def _ramp_offsets(self, targets: dict[str, float], pacer: Pacer) -> None:
        """Step the offsets of the named axes together from their reported values to `targets` (V)
        at piezo_speed, every step's voltages checked before the first is sent."""
        for name, volts in targets.items():
            self._check_volts(name, volts)
        present = {name: self.offset_volts(name) for name in targets}
        distance = math.sqrt(
            sum(((targets[name] - present[name]) * self.axes[name].meters_per_volt) ** 2 for name in targets)
        )
        if distance == 0:
            return
        duration = distance / self.piezo_speed
        count = max(1, math.ceil(duration / MOVE_STEP_INTERVAL_S - 1e-9))
        plan = []
        for index in range(1, count + 1):
            fraction = index / count
            step = {
                name: targets[name]
                if index == count
                else _rounded(present[name] + (targets[name] - present[name]) * fraction)
                for name in targets
            }
            for name, volts in step.items():
                self._check_volts(name, volts)  # a start outside the limits refuses the move here
            plan.append(step)
        sent = dict(present)
        for step in plan:
            for name, volts in step.items():
                if volts != sent[name]:
                    channel = self.controller.axis(self.axes[name].number)
                    guarded(f"ANC300 seta {channel.id} {volts:.3f}", lambda: setattr(channel, "offset_voltage", volts))
                    sent[name] = volts
            pacer.wait(duration / count)

    def _move_xy(self, x: float, y: float, pacer: Pacer) -> None:
        """Move laterally to (x, y) m at piezo_speed (refused while an approach is required)."""
        if self._zero_volts["z"] is None:
            raise InstrumentError(
                "the surface is unknown (coarse steps since, or none in the station file): record a touchdown "
                "with set_surface_volts, then retract or approach before moving laterally"
            )
        if self.approach_required:
            raise InstrumentError("a new surface was recorded: retract or approach before moving laterally")
        self._ramp_offsets({"x": self._position_to_volts("x", x), "y": self._position_to_volts("y", y)}, pacer)

    def _withdrawn_z_volts(self) -> float:
        """The z offset farthest from the sample within the active limits (V)."""
        low, high = self.voltage_limits("z")
        return high if self.axes["z"].meters_per_volt > 0 else low

    def withdraw(self, pacer: Pacer) -> None:
        """Withdraw z fully: to the end of its voltage limits away from the sample."""
        self._ramp_offsets({"z": self._withdrawn_z_volts()}, pacer)

    def highest_reachable_z(self) -> float:
        """The height (m) of the withdrawn end of the active z voltage limits (the end away from
        the sample: the upper one for a positive meters_per_volt, the lower one for a negative),
        so that a retract the limits cut short stops there instead of being refused. Infinite
        while the surface is unknown: a retract then withdraws fully (see `_move_z`)."""
        if self._zero_volts["z"] is None:
            return math.inf
        low, high = self.voltage_limits("z")
        volts = _rounded(self._withdrawn_z_volts())  # `seta` takes mV: the end's nearest mV inside
        step = 10.0**-VOLTAGE_RESOLUTION_DECIMALS
        if volts > high:
            volts = _rounded(volts - step)
        elif volts < low:
            volts = _rounded(volts + step)
        return self._volts_to_position("z", volts)

    def _move_z(self, z: float, pacer: Pacer) -> None:
        """Move to height z (m) above the recorded surface. With the surface unknown only a
        retract is possible, and it withdraws fully."""
        if self._zero_volts["z"] is None:
            if z >= self.limits.scanner_z.maximum:
                self.withdraw(pacer)
                return
            raise InstrumentError(
                "the surface is unknown (coarse steps since, or none in the station file): record a touchdown "
                "with set_surface_volts before approaching"
            )
        self._ramp_offsets({"z": self._position_to_volts("z", z)}, pacer)
        self.approach_required = False

    def set_surface_volts(self, volts: float | None = None) -> None:
        """Record the z offset (V) at which the sensor touches the surface (default: the present
        one, right after a touchdown). Lateral moves stay refused until a retract or approach."""
        if volts is None:
            volts = self.offset_volts("z")
        self._check_volts("z", volts)
        self._zero_volts["z"] = float(volts)
        self.approach_required = True

    # --- scanning

    def _scan_line(self, line: ScanLine, readout: SquidReadout, signal: str, pacer: Pacer) -> np.ndarray:
        """Point by point: move to each sample at piezo_speed, then read `signal` for the line's dwell."""
        xs, ys = line.points()
        values = []
        for x, y in zip(xs, ys):
            self._move_xy(float(x), float(y), pacer)
            values.append(readout.read(signal, line.dwell, pacer))
        return np.asarray(values, dtype=float)

    # --- coarse steps

    def coarse_step(self, axis: str, steps: int, pacer: Pacer) -> None:
        """Make `steps` stick-slip steps on the coarse positioner of `axis` (positive: stepu,
        negative: stepd), with the fine z withdrawn first. Afterwards the surface is unknown:
        record a new touchdown (set_surface_volts) and retract or approach before moving laterally.
        """
        if axis not in self.coarse_axes:
            raise UserInputError(f"no coarse positioner configured for axis {axis!r} (station setting coarse_axes)")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise UserInputError(f"steps must be a whole number, got {steps!r}")
        steps = int(steps)
        if steps == 0:
            return
        number = self.coarse_axes[axis]
        positioner = self.controller.axis(number)
        self.withdraw(pacer)
        # From the first step on, the sample may have moved under the sensor.
        self._zero_volts["z"] = None
        self.approach_required = True
        guarded(f"ANC300 setm {number} stp", lambda: setattr(positioner, "mode", "stp"))
        try:
            frequency = query(f"ANC300 getf {number}", lambda: positioner.frequency, FREQUENCY, source="controller")
            guarded(f"ANC300 step {number} {steps:+d}", lambda: positioner.move_raw(steps))
            try:
                pacer.wait(abs(steps) / frequency)
                guarded(f"ANC300 stepw {number}", lambda: positioner.ask("stepw"))
            except BaseException:
                guarded(f"ANC300 stop {number}", positioner.stop)  # an abort must not leave it stepping
                raise
        finally:
            # A grounded stick-slip positioner cannot creep; do it even after a fault.
            guarded(f"ANC300 setm {number} gnd", lambda: setattr(positioner, "mode", "gnd"))
