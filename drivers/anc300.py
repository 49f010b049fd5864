"""Attocube ANC300 as the station's `Scanner`: slow positioning through DC offsets.

The fine x, y, z positions are the DC offset voltages (`seta <axis> <V>`, read back
with `geta <axis>`) of three ANC300 axes in offset mode (`off`), times a calibration
per axis. Coarse stick-slip steps (`setm <axis> stp`, `getf <axis>`, `stepu|stepd
<axis> <n>`, `stepw <axis>`, `stop <axis>`, `setm <axis> gnd`) go to separate axes: the
coarse z through the role's `coarse_z_steps` (the coarse approach), any axis through
`coarse_step`.

This scanner is for parking and slow scans: `_scan_line` moves point by point and
reads the SQUID at each point (not hardware-timed). Fast, hardware-timed lines are
the NI-DAQ scanner's job. A line that gives its own z (one following a tilted surface)
sets z with x and y at each point, z linear from line.z[0] to line.z[1].

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
      coarse_axes: {x: 1, y: 2, z: 3}   # optional: stick-slip positioners (slots)
      coarse_z_step: 30 nm     # optional: nominal travel of one coarse z step; needs coarse_axes.z
      coarse_z_towards_sample: up   # optional (default up): stepu or stepd brings the sample nearer
      query_delay: 0.05 s      # optional: pause between a query and its reply (pymeasure's default)

Positions: x = (V_x - center_volts) * meters_per_volt, likewise y; z, the z piezo's
coordinate, is (V_z - V_0) * meters_per_volt with V_0 fixed for the life of the adapter:
the z block's `zero_volts` when given, else its `surface_volts`, else 0 V. The surface
is the role's business (`Scanner.surface`): with `surface_volts` in the file the station
starts from the flat plane at z = (surface_volts - V_0) * meters_per_volt (z = 0 when
there is no `zero_volts`); without it the surface is unknown until a touchdown finds
it. A negative `meters_per_volt` means more voltage moves the other way. `z_range()` is
the active z voltage limits (at the mV `seta` sends) in z; it always answers, so a
touchdown can sweep the fine z after coarse steps.

Coarse z: `coarse_z_step()` is the `coarse_z_step` setting (None without it; it needs
`coarse_axes.z`); a positive count of `coarse_z_steps` goes towards the sample, which is
`stepu` with `coarse_z_towards_sample: up` and `stepd` with `down`. `coarse_step(axis,
n)` steps any configured axis by the controller's sign (positive: stepu).

Safety:
* Every offset voltage a move would send is checked against the active (cold or
  warm) limits of its axis before the first command of the move; one outside them
  refuses the whole move (LimitError). Warm piezos depolarise at cold voltages. A scan
  line's offsets (x, y, and z for a line with z) are all checked before its first point.
* The controller takes one axis per `seta`, so a move's small steps (piezo_speed x
  50 ms) each go out as up to three commands. Within a step z is sent first when it
  rises and last when it falls: between the commands the sensor is then never nearer
  a tilted surface than at one end of the step, and both ends are clear of it.
* Moves start from the offset the controller reports, never a remembered one.
* A retract is never refused for asking too much: `highest_reachable_z()` is the
  withdrawn end of the active z limits (`z_range()[1]`), and the role stops a retract
  there. With the surface unknown the role (sqm.roles.Scanner) withdraws the fine z fully
  on a retract and moves laterally or scans only from there.
* Before any coarse step the fine z is withdrawn fully and the surface forgotten
  (`record_surface(None)`, before the first step: an abort mid-way leaves it unknown
  too); the stepping axis is grounded afterwards (also on abort, after `stop`).
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
from sqm.surface import SurfacePlane

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
from .scpi import log_wire, query, timeout_ms

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
    def from_config(cls, name: str, block: dict) -> tuple["PiezoAxis", dict[str, float | None]]:
        """The axis and its reference voltages: x, y {center_volts}; z {surface_volts, zero_volts},
        each None when absent."""
        if not isinstance(block, dict):
            raise UserInputError(f"axes.{name} must be a mapping")
        reference_keys = ("surface_volts", "zero_volts") if name == "z" else ("center_volts",)
        try:
            check_known_keys(block, {"axis", "meters_per_volt", *reference_keys, "warm_volts", "cold_volts"})
            number = setting(block, "axis")
            if isinstance(number, bool) or number not in ANC300_AXIS_NUMBERS:
                raise UserInputError(f"axis must be an ANC300 slot 1-7, got {number!r}")
            meters_per_volt = quantity_setting(block, "meters_per_volt", "m/V")
            if meters_per_volt == 0:
                raise UserInputError("meters_per_volt must not be zero")
            warm, cold = _voltage_span(block, "warm_volts"), _voltage_span(block, "cold_volts")
            axis = cls(name, number, meters_per_volt, warm, cold)
            references = {key: quantity_setting(block, key, "V", default=None if name == "z" else ...)
                          for key in reference_keys}
        except UserInputError as error:
            raise UserInputError(f"axes.{name}: {error}") from None
        return axis, references


def _rounded(volts: float) -> float:
    return round(volts, VOLTAGE_RESOLUTION_DECIMALS)


TOWARDS_SAMPLE = ("up", "down")  # which of stepu / stepd brings the coarse z nearer the sample
COARSE_Z_STEP_RANGE = (0.0, 10e-6)  # m, (low, high]: a plausible stick-slip step


class ANC300Scanner(Scanner):
    """x, y (m) and z (m, the z piezo's coordinate) from the offset voltages of three ANC300 axes.

    Build it around an open `ANC300Console` (tests use pymeasure's protocol adapter) or
    from a station-file block with `from_config`. Sends nothing until asked.
    """

    # the role's primitives, and the stepping of any coarse axis: refused from a fenced thread
    commands = (*Scanner.commands, "_coarse_steps")

    def __init__(
        self,
        controller: ANC300Console,
        axes: dict[str, PiezoAxis],
        center_volts: dict[str, float],
        cold: bool,
        piezo_speed: float,
        surface_volts: float | None = None,
        coarse_axes: dict[str, int] | None = None,
        zero_volts: float | None = None,
        coarse_z_step: float | None = None,
        coarse_z_towards_sample: str = "up",
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
        references = {"center_volts x": center_volts["x"], "center_volts y": center_volts["y"],
                      "surface_volts": surface_volts, "zero_volts": zero_volts}
        for name, volts in references.items():
            if volts is not None and not OFFSET_RANGE_V[0] <= volts <= OFFSET_RANGE_V[1]:
                raise UserInputError(f"{name} {volts:g} V is outside the ANC300 offset range 0-150 V")
        numbers = [axis.number for axis in axes.values()] + list(coarse_axes.values())
        if len(set(numbers)) != len(numbers):
            # Stepping a fine axis would drop its offset (mode stp): the piezo would jump.
            raise UserInputError(f"each fine and coarse axis needs its own ANC300 slot, got {numbers}")
        if coarse_z_step is not None:
            low, high = COARSE_Z_STEP_RANGE
            if not low < coarse_z_step <= high:
                raise UserInputError(f"coarse_z_step {coarse_z_step * 1e6:g} um is outside ({low * 1e6:g}, "
                                     f"{high * 1e6:g}] um (the nominal travel of one stick-slip step)")
            if "z" not in coarse_axes:
                raise UserInputError("coarse_z_step needs coarse_axes.z: the slot of the coarse z positioner")
        if coarse_z_towards_sample not in TOWARDS_SAMPLE:
            raise UserInputError(f"coarse_z_towards_sample must be up or down, got {coarse_z_towards_sample!r}")
        self.controller = controller
        log_wire(controller, "ANC300", logger)
        self.axes = dict(axes)
        self.cold = cold
        self.piezo_speed = float(piezo_speed)
        self.coarse_axes = coarse_axes
        self._coarse_z_step = None if coarse_z_step is None else float(coarse_z_step)
        self.coarse_z_towards_sample = coarse_z_towards_sample
        # Each axis's offset at position 0, fixed: z's is zero_volts, else surface_volts, else 0 V.
        z_zero = zero_volts if zero_volts is not None else surface_volts if surface_volts is not None else 0.0
        self._zero_volts: dict[str, float] = {"x": center_volts["x"], "y": center_volts["y"], "z": float(z_zero)}
        if surface_volts is None:
            self.record_surface(None)  # nothing known: a touchdown must find it
        else:
            z0 = (surface_volts - z_zero) * self.axes["z"].meters_per_volt
            self.record_surface(SurfacePlane(z0=z0, source="station file"))

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "ANC300Scanner":
        """Check a station-file block, open the controller (logging in if a password is given),
        check the fine axes are in offset mode."""
        check_known_keys(config, {"address", "password", "cold", "piezo_speed", "axes", "coarse_axes", "coarse_z_step",
                                  "coarse_z_towards_sample", "query_delay", "timeout"})
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
            center_volts={"x": references["x"]["center_volts"], "y": references["y"]["center_volts"]},
            cold=setting(config, "cold"),
            piezo_speed=quantity_setting(config, "piezo_speed", "m/s"),
            surface_volts=references["z"]["surface_volts"],
            zero_volts=references["z"]["zero_volts"],
            coarse_axes=coarse_axes,
            coarse_z_step=quantity_setting(config, "coarse_z_step", "m", default=None),
            coarse_z_towards_sample=setting(config, "coarse_z_towards_sample", default="up"),
        )
        cls(None, **arguments)  # every check of the block, before the instrument is opened
        adapter = context.visa_adapter(address, timeout=timeout_ms(config), read_termination="\r\n",
                                       write_termination="\r\n")
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
        return (volts - self._zero_volts[name]) * self.axes[name].meters_per_volt

    def _position_to_volts(self, name: str, meters: float) -> float:
        return _rounded(self._zero_volts[name] + meters / self.axes[name].meters_per_volt)

    def position(self) -> tuple[float, float, float]:
        """(x, y, z) in m from the reported offsets."""
        x, y, z = (self._volts_to_position(name, self.offset_volts(name)) for name in SCAN_AXES)
        return x, y, z

    def snapshot(self) -> dict:
        """The role's (identity, x, y, z, the known surface), with the offsets as reported and
        the settings that turn them into positions."""
        snapshot = super().snapshot()
        snapshot.update({
            "offset_volts": {name: self.offset_volts(name) for name in SCAN_AXES},
            "cold": self.cold,
            "voltage_limits": {name: list(self.voltage_limits(name)) for name in SCAN_AXES},
            "meters_per_volt": {name: axis.meters_per_volt for name, axis in self.axes.items()},
            "zero_volts": dict(self._zero_volts),
            "coarse_axes": dict(self.coarse_axes),
            "coarse_z_step_m": self._coarse_z_step,
            "coarse_z_towards_sample": self.coarse_z_towards_sample,
        })
        return snapshot

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
            for name in self._sending_order(step, sent):
                volts = step[name]
                if volts != sent[name]:
                    channel = self.controller.axis(self.axes[name].number)
                    guarded(f"ANC300 seta {channel.id} {volts:.3f}", lambda: setattr(channel, "offset_voltage", volts))
                    sent[name] = volts
            pacer.wait(duration / count)

    def _sending_order(self, step: dict[str, float], sent: dict[str, float]) -> list[str]:
        """The axes of one step (V) in the order their `seta` goes out: z first when it rises
        (away from the sample), last when it falls. Between two commands the sensor is then
        at least as far above a plane surface as at one end of the step, and both ends are
        checked to be clear of it."""
        lateral = [name for name in step if name != "z"]
        if "z" not in step:
            return lateral
        rises = (step["z"] - sent["z"]) * self.axes["z"].meters_per_volt > 0
        return ["z", *lateral] if rises else [*lateral, "z"]

    def _move_xy(self, x: float, y: float, pacer: Pacer) -> None:
        """Move laterally to (x, y) m at piezo_speed."""
        self._ramp_offsets({"x": self._position_to_volts("x", x), "y": self._position_to_volts("y", y)}, pacer)

    def _withdrawn_z_volts(self) -> float:
        """The z offset farthest from the sample within the active limits (V)."""
        low, high = self.voltage_limits("z")
        return high if self.axes["z"].meters_per_volt > 0 else low

    def z_range(self) -> tuple[float, float]:
        """The z (m) at the two ends of the active (cold or warm) z voltage limits, lowest first,
        each at the mV `seta` sends inside them. The upper end is the withdrawn one (the upper
        voltage for a positive meters_per_volt, the lower for a negative): the role's
        highest_reachable_z, where a retract the limits cut short stops."""
        ends = sorted(self._volts_to_position("z", self._sendable_z_volts(volts)) for volts in self.voltage_limits("z"))
        return ends[0], ends[1]

    def _sendable_z_volts(self, limit: float) -> float:
        """`limit` (V, an end of the active z limits) at the nearest mV inside the limits."""
        low, high = self.voltage_limits("z")
        volts = _rounded(limit)
        step = 10.0**-VOLTAGE_RESOLUTION_DECIMALS
        if volts > high:
            volts = _rounded(volts - step)
        elif volts < low:
            volts = _rounded(volts + step)
        return volts

    def _move_z(self, z: float, pacer: Pacer) -> None:
        """Move z to `z` (m, the scanner's coordinate) at piezo_speed."""
        self._ramp_offsets({"z": self._position_to_volts("z", z)}, pacer)

    # --- scanning

    def _scan_line(self, line: ScanLine, readout: SquidReadout, signal: str, pacer: Pacer) -> np.ndarray:
        """Point by point: move to each sample at piezo_speed (x, y, and z when the line gives its
        own, together), then read `signal` for the line's dwell. Every offset of the line is
        checked before the first point."""
        offsets = self._line_offsets(line)
        values = []
        for index in range(line.n_points):
            self._ramp_offsets({name: axis_offsets[index] for name, axis_offsets in offsets.items()}, pacer)
            values.append(readout.read(signal, line.dwell, pacer))
        return np.asarray(values, dtype=float)

    def _line_offsets(self, line: ScanLine) -> dict[str, list[float]]:
        """The offsets (V, at the mV sent) of every point of the line per axis it drives: x and
        y, and z when the line gives its own; LimitError if any is outside the active limits."""
        xs, ys = line.points()
        positions = {"x": xs, "y": ys}
        if line.z is not None:
            positions["z"] = line.z_points(math.nan)  # the line's own z: the present one is not used
        offsets = {name: [self._position_to_volts(name, float(meters)) for meters in axis_positions]
                   for name, axis_positions in positions.items()}
        for name, axis_offsets in offsets.items():
            for volts in axis_offsets:
                self._check_volts(name, volts)
        return offsets

    # --- coarse steps

    def coarse_z_step(self) -> float | None:
        """The station file's `coarse_z_step` (m), None without it (no coarse approach)."""
        return self._coarse_z_step

    def _coarse_z_steps(self, steps: int, pacer: Pacer) -> None:
        """`steps` coarse z steps, positive towards the sample (stepu or stepd as
        coarse_z_towards_sample says); the role has withdrawn the fine z and forgotten the surface."""
        if "z" not in self.coarse_axes:
            raise InstrumentError("scanner: this scanner has no coarse z positioner (station setting coarse_axes.z)")
        upwards = steps if self.coarse_z_towards_sample == "up" else -steps
        self._coarse_steps(self.coarse_axes["z"], upwards, pacer)

    def coarse_step(self, axis: str, steps: int, pacer: Pacer) -> None:
        """Make `steps` stick-slip steps on the coarse positioner of `axis` (positive: stepu,
        negative: stepd), as the role's coarse_z_steps does: the fine z withdrawn fully first,
        the surface forgotten before the first step (a lateral step too puts another part of
        the sample under the sensor). A touchdown finds it again."""
        if axis not in self.coarse_axes:
            raise UserInputError(f"no coarse positioner configured for axis {axis!r} (station setting coarse_axes)")
        count = self._before_coarse_steps(steps, pacer)
        if count:
            self._coarse_steps(self.coarse_axes[axis], count, pacer)

    def _coarse_steps(self, number: int, steps: int, pacer: Pacer) -> None:
        """`steps` stick-slip steps on the positioner in slot `number` (positive: stepu), waited
        for at its frequency; stopped on an abort, grounded afterwards whatever happened."""
        positioner = self.controller.axis(number)
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
