"""The hardware abstraction: one small interface per kind of instrument.

Procedures speak only to these roles; the twin (`sqm.sims`) and the real drivers
(`sqm.drivers`) fill them. SI units in and out: A, T, K, m, s, V; flux in Phi0.

Safety lives here, once, in the concrete methods of the base classes
(`ramp_to`, `set_setpoint`, `move_to`...): they check the station limits before any
command is sent (reject, never clamp), ramp from the *measured* present value,
and refuse when that value is unknown. Implementations only provide the primitive
operations (the methods whose names start with an underscore).
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum

import numpy as np

from .errors import AbortRequested, InstrumentError, UserInputError
from .limits import StationLimits
from .pacing import Pacer
from .surface import SurfacePlane

# A software ramp moves in steps this far apart in time (s).
RAMP_STEP_INTERVAL_S = 0.1


def _finite(value, role_name: str, method: str) -> float:
    """`value` as a float if it is a finite number; an instrument fault otherwise."""
    is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value):
        raise InstrumentError(f"{role_name}: {method}() returned {value!r}, not a finite number (instrument fault)")
    return float(value)


def _refusing_non_finite(function, method: str):
    def reading(self, *args, **kwargs):
        return _finite(function(self, *args, **kwargs), self.role_name, method)

    reading.__name__, reading.__qualname__, reading.__doc__ = function.__name__, function.__qualname__, function.__doc__
    reading.__wrapped__ = function  # type: ignore[attr-defined]
    return reading


# Threads that may no longer command any instrument: a run's thread that the watchdog
# gave up on while it was blocked in an instrument call (sqm.watchdog). When its call
# returns, its next command raises instead of undoing the safe state.
_fenced_threads: set[int] = set()


def fence_thread(ident: int) -> None:
    """Refuse every instrument command from thread `ident` from now on."""
    _fenced_threads.add(ident)


def unfence_thread(ident: int) -> None:
    """Thread `ident` has ended (its ident may be reused): let it go."""
    _fenced_threads.discard(ident)


def _fenced(function, method: str):
    def command(self, *args, **kwargs):
        if threading.get_ident() in _fenced_threads:
            raise AbortRequested(f"{self.role_name}.{method}: refused, this run was ended while its call was blocked")
        return function(self, *args, **kwargs)

    command.__name__, command.__qualname__, command.__doc__ = function.__name__, function.__qualname__, function.__doc__
    command.__wrapped__ = function  # type: ignore[attr-defined]
    return command


class Role(ABC):
    """Common part of every role: limits, identity, snapshot, safe state."""

    role_name: str = "role"
    # Readings an implementation returns that must be finite numbers: a NaN, inf or None
    # from an instrument is a fault, never data (checked here, once, for every driver).
    finite_readings: tuple[str, ...] = ()
    # The primitives that command the instrument: refused from a fenced thread.
    commands: tuple[str, ...] = ()
    # Where the instrument is reached when it is not attached to this PC (a LECO Actor on
    # another lab computer, set by the backend); "" for a local one. Kept in every snapshot.
    location: str = ""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for names, wrap in ((cls.finite_readings, _refusing_non_finite), (cls.commands, _fenced)):
            for method in names:
                function = cls.__dict__.get(method)
                if function is not None and not getattr(function, "__isabstractmethod__", False):
                    setattr(cls, method, wrap(function, method))

    def __init__(self) -> None:
        self._limits: StationLimits | None = None

    def attach_limits(self, limits: StationLimits) -> None:
        """Called once by the station builder."""
        self._limits = limits

    @property
    def limits(self) -> StationLimits:
        if self._limits is None:
            raise InstrumentError(f"{self.role_name}: no station limits attached; refusing to drive it")
        return self._limits

    def identity(self) -> str:
        """Who fills this role (model, serial), for snapshots and `sqm instruments`."""
        return type(self).__name__

    @abstractmethod
    def snapshot(self) -> dict:
        """Settings and readings worth keeping with every step (JSON-able, SI units)."""

    @abstractmethod
    def safe_state(self, pacer: Pacer) -> None:
        """Bring the instrument to its safe state. Must not be interruptible."""

    def emergency_stop(self) -> str:
        """Last resort when `safe_state` failed every attempt: what can be done without
        a trustworthy reading. Returns what was done, for the run file."""
        return "no further action possible"

    def check_target(self, target: float, rate: float | None = None) -> None:
        """Hook for the instrument's own limits on a target (SI units) and its rate (per s;
        None where the operation has no rate, such as a temperature setpoint).

        Called by the role's public operations after the station limits and before any
        command is sent; an implementation raises `InstrumentError` to refuse (its range,
        a supply's current limit...). The default accepts everything the station allows.
        """


def _require_known(value: float | None, what: str) -> float:
    if value is None or not math.isfinite(value):
        raise InstrumentError(f"{what} is unknown ({value!r}); refusing to ramp from it")
    return float(value)


def _ramp_output(source, target: float, rate: float, pacer: Pacer, what: str) -> None:
    """Ramp a current output (a CurrentSource or a SquidBias, checked already) from its
    measured value to `target` (A) at `rate` (A/s), in steps RAMP_STEP_INTERVAL_S apart;
    an output that is off is switched on only when it reads zero."""
    present = _require_known(source.read_current(), what)
    if not source.output_enabled():
        if abs(present) > 0:
            raise InstrumentError(f"output is off but reads {present:.6g} A; refusing to switch it on")
        source._set_output(True)
    step = rate * RAMP_STEP_INTERVAL_S
    n_steps = max(1, math.ceil(abs(target - present) / step - 1e-9))
    for index in range(1, n_steps + 1):
        level = target if index == n_steps else present + (target - present) * index / n_steps
        source._apply_current(level)
        pacer.wait(abs(target - present) / n_steps / rate)


class _CurrentOutput(Role):
    """A current output ramped in software from its measured value (A): the sample's bias
    and the SQUID's own. Subclasses give `ramp_to` (their limits) and the primitives."""

    @abstractmethod
    def read_current(self) -> float:
        """Measured output current (A)."""

    @abstractmethod
    def output_enabled(self) -> bool:
        """Whether the output is on."""

    @abstractmethod
    def _apply_current(self, amps: float) -> None:
        """Primitive: set the output to `amps`. Called only with checked, small steps."""

    @abstractmethod
    def _set_output(self, enabled: bool) -> None:
        """Primitive: switch the output on or off (only ever at zero current)."""

    @abstractmethod
    def ramp_to(self, target: float, pacer: Pacer, rate: float | None = None) -> None:
        """Ramp from the measured current to `target` (A) within the role's limits."""

    def safe_state(self, pacer: Pacer) -> None:
        """Ramp to zero at the default rate, then switch the output off."""
        if self.output_enabled():
            self.ramp_to(0.0, pacer)
            self._set_output(False)

    def snapshot(self) -> dict:
        return {"identity": self.identity(), "current_A": self.read_current(), "output_enabled": self.output_enabled()}


class CurrentSource(_CurrentOutput):
    """Bias current through the sample (A). Ramped in software from the measured value."""

    role_name = "current_source"
    finite_readings = ("read_current",)
    commands = ("_apply_current", "_set_output", "_select_leads")

    def ramp_to(self, target: float, pacer: Pacer, rate: float | None = None) -> None:
        """Ramp from the measured current to `target` (A) at `rate` (A/s, default: station's)."""
        limits = self.limits
        limits.bias_current.check(target)
        rate = limits.bias_ramp.check(limits.bias_ramp.default if rate is None else rate)
        self.check_target(target, rate)
        _ramp_output(self, target, rate, pacer, "present bias current")

    def leads(self) -> tuple[str, str] | None:
        """The sample's leads (source, drain) the output drives now; None where the wiring
        is fixed and SQM does not know it (a hardware source wired to one pair)."""
        return None

    def default_leads(self) -> tuple[str, str] | None:
        """The pair a step uses when it names none (None: the fixed wiring)."""
        return None

    def select_leads(self, leads: tuple[str, str] | None, pacer: Pacer) -> None:
        """Drive the output between `leads` (source, drain), or the default pair when None.

        A current is never switched from one pair to another while it flows: the output
        ramps to zero from its measured value first, then the pair changes."""
        wanted = leads if leads is not None else self.default_leads()
        if wanted is None or tuple(wanted) == self.leads():
            return
        self.ramp_to(0.0, pacer)
        self._select_leads((wanted[0], wanted[1]))

    def _select_leads(self, leads: tuple[str, str]) -> None:
        """Primitive: route the (zero) output to another pair of the sample's leads."""
        raise InstrumentError(f"{self.identity()} is wired to one pair of leads; it cannot switch to "
                              f"{' -> '.join(leads)}")

    def emergency_stop(self) -> str:
        """Switch the output off without a ramp: a step to zero from an unknown current
        is better than a current left flowing with no one watching it."""
        self._set_output(False)
        return "output switched off without a ramp"

    def snapshot(self) -> dict:
        snapshot = super().snapshot()
        leads = self.leads()
        if leads is not None:
            snapshot["leads"] = " -> ".join(leads)
        return snapshot


class MagnetState(Enum):
    """What the magnet power supply reports (after the AMI 430's STATE? codes)."""

    RAMPING = "ramping"
    HOLDING = "holding"
    PAUSED = "paused"
    AT_ZERO = "at zero"
    QUENCH = "quench"
    HEATING_SWITCH = "heating switch"
    COOLING_SWITCH = "cooling switch"
    OTHER = "other"


# States from which a new ramp may start.
_RAMPABLE = {MagnetState.HOLDING, MagnetState.PAUSED, MagnetState.AT_ZERO}


class Magnet(Role):
    """Superconducting magnet, out-of-plane field (T). The supply ramps; we command and watch."""

    role_name = "magnet"
    finite_readings = ("read_field",)
    commands = ("_start_ramp", "_pause", "_set_switch_heater")

    # How often the state is polled during a ramp (s).
    poll_interval_s = 0.5

    @abstractmethod
    def read_field(self) -> float:
        """Measured field (T)."""

    @abstractmethod
    def state(self) -> MagnetState:
        """The supply's state."""

    @abstractmethod
    def is_persistent(self) -> bool:
        """True while the persistent switch is closed with the leads at zero."""

    @abstractmethod
    def _start_ramp(self, target: float, rate: float) -> None:
        """Primitive: set the target (T) and rate (T/s) and start ramping."""

    @abstractmethod
    def _pause(self) -> None:
        """Primitive: stop ramping and hold the present field."""

    @abstractmethod
    def switch_heater_on(self) -> bool:
        """True while the persistent-switch heater is on (the supply drives the coil)."""

    @abstractmethod
    def _set_switch_heater(self, on: bool) -> None:
        """Primitive: switch the persistent-switch heater on or off."""

    # Seconds to wait after the switch heater changes state (station-specific; ~10 s is typical).
    switch_heater_wait_s = 10.0

    def enter_persistent(self, pacer: Pacer) -> None:
        """Close the persistent switch at the present field (supply holding), then wait."""
        state = self.state()
        if state not in (MagnetState.HOLDING, MagnetState.AT_ZERO):
            raise InstrumentError(f"magnet is {state.value}; it must be holding to go persistent")
        if not self.switch_heater_on():
            raise InstrumentError("the persistent-switch heater is already off")
        self._set_switch_heater(False)
        pacer.wait(self.switch_heater_wait_s)

    def leave_persistent(self, pacer: Pacer) -> None:
        """Open the persistent switch, then wait. The supply must hold (not ramp, not
        quenched); matching its current to the coil's is the driver's check in
        `_set_switch_heater` (heating the switch across a current mismatch quenches)."""
        if self.switch_heater_on():
            return
        state = self.state()
        if state not in _RAMPABLE:
            raise InstrumentError(f"magnet is {state.value}; it must be holding to leave persistent mode")
        self._set_switch_heater(True)
        pacer.wait(self.switch_heater_wait_s)

    def ramp_to(self, target: float, pacer: Pacer, rate: float | None = None) -> None:
        """Ramp from the measured field to `target` (T) and wait until holding."""
        limits = self.limits
        limits.field.check(target)
        rate = limits.field_ramp.check(limits.field_ramp.default if rate is None else rate)
        self.check_target(target, rate)
        state = self.state()
        if state is MagnetState.QUENCH:
            raise InstrumentError("magnet is quenched; refusing to ramp")
        if self.is_persistent():
            raise InstrumentError("magnet is persistent; refusing to ramp the leads")
        if state not in _RAMPABLE:
            raise InstrumentError(f"magnet is {state.value}; refusing to ramp")
        present = _require_known(self.read_field(), "present field")
        expected_s = abs(target - present) / rate
        deadline = pacer.now() + 1.5 * expected_s + 10 * self.poll_interval_s
        self._start_ramp(target, rate)
        try:
            while True:
                pacer.wait(min(self.poll_interval_s, max(expected_s, 1e-3)))
                state = self.state()
                if state is MagnetState.QUENCH:
                    raise InstrumentError(f"magnet quenched during the ramp to {target:.6g} T")
                if state in (MagnetState.HOLDING, MagnetState.AT_ZERO) and abs(self.read_field() - target) <= max(
                    1e-3 * abs(target), limits.field_tolerance
                ):
                    return
                if state not in (MagnetState.RAMPING, MagnetState.HOLDING, MagnetState.AT_ZERO):
                    raise InstrumentError(f"magnet went to state '{state.value}' during a ramp")
                if pacer.now() > deadline:
                    raise InstrumentError(f"magnet did not reach {target:.6g} T in {1.5 * expected_s:.0f} s")
        except BaseException:
            self._pause()  # an abort or fault during a ramp must not leave it running
            raise

    def safe_state(self, pacer: Pacer) -> None:
        """Ramp to zero field, unless persistent (then it holds) or quenched (then nothing to drive)."""
        if self.is_persistent() or self.state() is MagnetState.QUENCH:
            return
        if abs(_require_known(self.read_field(), "present field")) > 0:  # NaN must not pass as "at zero"
            self.ramp_to(0.0, pacer)

    def emergency_stop(self) -> str:
        """Let the supply ramp itself to zero at the default rate: it knows its own
        output even when we could not read the field."""
        rate = self.limits.field_ramp.default
        self._start_ramp(0.0, rate)
        return f"supply told to ramp to zero at {rate:.3g} T/s (not watched)"

    def snapshot(self) -> dict:
        return {
            "identity": self.identity(),
            "field_T": self.read_field(),
            "state": self.state().value,
            "persistent": self.is_persistent(),
            "switch_heater_on": self.switch_heater_on(),
        }


class TemperatureController(Role):
    """Sample temperature (K) and its heater loop."""

    role_name = "temperature"
    finite_readings = ("read_temperature",)
    commands = ("_write_setpoint", "heater_off")

    @abstractmethod
    def read_temperature(self) -> float:
        """Measured sample temperature (K)."""

    @abstractmethod
    def read_setpoint(self) -> float:
        """Heater setpoint (K)."""

    @abstractmethod
    def _write_setpoint(self, kelvin: float) -> None:
        """Primitive: set the heater loop's setpoint (K) and enable the heater."""

    @abstractmethod
    def heater_off(self) -> None:
        """Switch the heater off (the stage then cools towards base)."""

    def set_setpoint(self, kelvin: float) -> None:
        """Set the heater setpoint (K), after checking the station's range."""
        self.limits.temperature.check(kelvin)
        self.check_target(kelvin)
        self._write_setpoint(kelvin)

    def safe_state(self, pacer: Pacer) -> None:
        """Hold the setpoint in force (one the limits allowed), unless the stage reads
        above the station's range or nothing sensible: then the loop cannot be trusted
        (wrong sensor, runaway) and the heater goes off, so the stage cools to base."""
        temperature = self.read_temperature()
        if not (math.isfinite(temperature) and temperature <= self.limits.temperature.maximum):
            self.heater_off()
            raise InstrumentError(
                f"stage at {temperature:.4g} K, outside the station's range: heater switched off"
            )

    def emergency_stop(self) -> str:
        self.heater_off()
        return "heater switched off"

    def snapshot(self) -> dict:
        return {"identity": self.identity(), "temperature_K": self.read_temperature(),
                "setpoint_K": self.read_setpoint()}


# What a SQUID readout can measure, with the units of the stored values.
SIGNAL_UNITS = {"flux": "Phi0", "susceptibility": "Phi0/A"}


@dataclass(frozen=True)
class ScanLine:
    """A straight line scanned at constant speed: `n_points` evenly spaced samples
    from `start` to `end` (x, y in m), taking `duration` seconds in all. `z`: the z
    coordinate (m) at its start and end, z going linearly between them (a line that
    follows a plane); None: at the present z."""

    start: tuple[float, float]
    end: tuple[float, float]
    n_points: int
    duration: float
    z: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.n_points < 2:
            raise ValueError("a scan line needs at least 2 points")
        if not self.duration > 0:
            raise ValueError("a scan line needs a positive duration")

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y (m) of the samples, each shape (n_points,)."""
        fraction = np.linspace(0.0, 1.0, self.n_points)
        return (
            self.start[0] + fraction * (self.end[0] - self.start[0]),
            self.start[1] + fraction * (self.end[1] - self.start[1]),
        )

    def z_points(self, present_z: float) -> np.ndarray:
        """z (m) at each sample: along `z`, or `present_z` throughout."""
        if self.z is None:
            return np.full(self.n_points, float(present_z))
        return np.linspace(self.z[0], self.z[1], self.n_points)

    @property
    def dwell(self) -> float:
        """Seconds spent on each sample (s)."""
        return self.duration / self.n_points


# The largest z move a touchdown may make towards the surface in one step (m): between
# two readings of the touchdown sensor the sensor never travels farther than this.
TOUCHDOWN_MAX_STEP = 100e-9
# m: within this of the top of the fine z's reach the sensor counts as fully withdrawn
# (a driver reads its position back to its own resolution).
WITHDRAWN_TOLERANCE = 10e-9
# How far below the known surface a touchdown may search (m): a surface known within
# this (a station file's, a plane's) is found; a deeper search needs a coarse approach.
TOUCHDOWN_SEARCH_BELOW = 3e-6


class Scanner(Role):
    """Piezo scanner: x, y over the sample and z, the z piezo's position (m).

    z is the scanner's own coordinate, zero at the station's reference (on hardware a z
    offset voltage the station file names). The height above the sample at (x, y) is z
    minus the known surface there (`surface`, a sqm.surface.SurfacePlane, None when
    unknown): the station file's flat surface at first, then the plane through a
    touchdown, or fitted to several. Nothing moves towards a surface that is not known
    (with none known, lateral moves and lines only from the top of the fine z's reach),
    and no move leaves the sensor lower above the known surface than the z limit allows.
    """

    role_name = "scanner"
    commands = ("_move_xy", "_move_z", "_scan_line", "_coarse_z_steps")

    def __init__(self) -> None:
        super().__init__()
        self.surface: SurfacePlane | None = SurfacePlane()

    @abstractmethod
    def position(self) -> tuple[float, float, float]:
        """Present (x, y, z) in m; z in the scanner's coordinate (see the class)."""

    @abstractmethod
    def _move_xy(self, x: float, y: float, pacer: Pacer) -> None:
        """Primitive: move laterally to (x, y) m at the present z."""

    @abstractmethod
    def _move_z(self, z: float, pacer: Pacer) -> None:
        """Primitive: move to z (m, the scanner's coordinate)."""

    def z_range(self) -> tuple[float, float]:
        """The z coordinates (m) the z piezo can reach now; drivers whose voltage limits
        bound it override this (default: no bound of its own)."""
        return -math.inf, math.inf

    def highest_reachable_z(self) -> float:
        """Highest z (m) the z drive can reach now."""
        return self.z_range()[1]

    # The known surface -----------------------------------------------------------------
    def record_surface(self, surface: SurfacePlane | None) -> None:
        """What the station knows of the surface from now on (None: it is unknown)."""
        self.surface = surface

    def _known_surface(self, what: str) -> SurfacePlane:
        if self.surface is None:
            raise InstrumentError(f"scanner: {what} refused: the surface is unknown (coarse steps since, or none "
                                  "in the station file); run a touchdown first")
        return self.surface

    def height_above_surface(self, x: float, y: float, z: float) -> float:
        """z minus the known surface at (x, y) (m); InstrumentError when it is unknown."""
        return z - float(self._known_surface("a height").height_at(x, y))

    def check_z(self, x: float, y: float, z: float, what: str) -> None:
        """Refuse a z at (x, y) the piezo cannot reach, or that puts the sensor outside the
        station's height limits above the known surface."""
        low, high = self.z_range()
        if not low <= z <= high:
            raise InstrumentError(f"scanner: {what}: z = {z * 1e6:.3f} um is outside the z piezo's reach "
                                  f"[{low * 1e6:.3f}, {high * 1e6:.3f}] um")
        height = self.height_above_surface(x, y, z)
        zlimits = self.limits.scanner_z
        if not zlimits.minimum <= height <= zlimits.maximum:
            raise InstrumentError(
                f"scanner: {what}: at ({x * 1e6:.2f}, {y * 1e6:.2f}) um the sensor would be {height * 1e6:.3f} um "
                f"above the surface, outside the station limits [{zlimits.minimum * 1e6:g}, "
                f"{zlimits.maximum * 1e6:g}] um")

    # Moves -------------------------------------------------------------------------------
    def _surface_is_level(self) -> bool:
        """Known and flat: heights do not depend on x, y (no position needs reading)."""
        return self.surface is not None and self.surface.slope_x == 0.0 and self.surface.slope_y == 0.0

    def _require_withdrawn(self, what: str) -> None:
        """With the surface unknown nothing tells how near the sample any z but the top of
        the fine z's reach is: refuse `what` anywhere else."""
        z, top = self.position()[2], self.highest_reachable_z()
        if not (math.isfinite(z) and z >= top - WITHDRAWN_TOLERANCE):
            raise InstrumentError(f"scanner: {what} refused: the surface is unknown (coarse steps since, or none in "
                                  f"the station file) and the fine z is not fully withdrawn (z = {z * 1e6:.3f} um, "
                                  f"the top of its reach {top * 1e6:.3f} um); retract first")

    def move_to(self, x: float, y: float, pacer: Pacer) -> None:
        """Move laterally to (x, y) m after checking the scan range and that the sensor
        stays clear of a tilted known surface there at its present z (with the surface
        unknown: only from the top of the fine z's reach)."""
        self.limits.scanner_x.check(x)
        self.limits.scanner_y.check(y)
        if self.surface is None:
            self._require_withdrawn("a lateral move")
        elif not self._surface_is_level():
            z = self.position()[2]
            height = self.height_above_surface(x, y, z) if math.isfinite(z) else math.inf
            if height < self.limits.scanner_z.minimum:
                raise InstrumentError(
                    f"scanner: moving to ({x * 1e6:.2f}, {y * 1e6:.2f}) um at this z would leave the sensor "
                    f"{height * 1e6:.3f} um above the surface, below the station limit "
                    f"{self.limits.scanner_z.minimum * 1e6:g} um; retract first")
        self._move_xy(x, y, pacer)

    def _surface_here(self, what: str) -> float:
        """The known surface's z (m) under the sensor now."""
        surface = self._known_surface(what)
        if self._surface_is_level():
            return surface.z0
        x, y, _ = self.position()
        return float(surface.height_at(x, y))

    def approach(self, height: float, pacer: Pacer) -> None:
        """Bring the sensor to `height` (m) above the known surface at the present x, y."""
        self.limits.scanner_z.check(height)
        z = self._surface_here("an approach") + height
        low, high = self.z_range()
        if not low <= z <= high:
            raise InstrumentError(f"scanner: approach: z = {z * 1e6:.3f} um is outside the z piezo's reach "
                                  f"[{low * 1e6:.3f}, {high * 1e6:.3f}] um")
        self._move_z(z, pacer)

    def retract(self, pacer: Pacer) -> None:
        """Withdraw to the top of the z range above the known surface, or as high as the
        piezo reaches now if that is lower (a safe state must never be refused for asking
        too much). With the surface unknown, all the way up (withdraw_fully): after coarse
        steps the top of the z range counted from the reference may be nearer the sample
        than where the sensor is."""
        if self.surface is None and math.isfinite(self.highest_reachable_z()):
            self.withdraw_fully(pacer)
            return
        top = self.limits.scanner_z.maximum
        if self.surface is not None:
            try:
                top += self._surface_here("a retract")
            except InstrumentError:  # where the sensor is cannot be read: the reference's top
                pass
        self._move_z(min(top, self.highest_reachable_z()), pacer)

    def touchdown_step(self, z: float, pacer: Pacer) -> None:
        """One step of a touchdown: z down to `z` (m), at most TOUCHDOWN_MAX_STEP below the
        present z, within the piezo's reach and no deeper than TOUCHDOWN_SEARCH_BELOW under
        the known surface (any depth within reach when the surface is unknown). The caller
        reads the touchdown sensor between steps and stops at contact."""
        x, y, present = self.position()
        if not (z < present and present - z <= TOUCHDOWN_MAX_STEP * (1 + 1e-9)):
            raise InstrumentError(f"scanner: a touchdown step goes down by at most "
                                  f"{TOUCHDOWN_MAX_STEP * 1e9:.0f} nm, not from {present * 1e6:.4f} um to "
                                  f"{z * 1e6:.4f} um")
        low, high = self.z_range()
        if not low <= z <= high:
            raise InstrumentError(f"scanner: the touchdown reached the bottom of the z piezo's reach "
                                  f"({low * 1e6:.3f} um) without contact")
        if self.surface is not None and z < float(self.surface.height_at(x, y)) - TOUCHDOWN_SEARCH_BELOW:
            raise InstrumentError(f"scanner: no contact within {TOUCHDOWN_SEARCH_BELOW * 1e6:g} um below the "
                                  "known surface; refusing to go deeper (the surface is farther than known)")
        self._move_z(z, pacer)

    # Coarse z ------------------------------------------------------------------------------
    def coarse_z_step(self) -> float | None:
        """Nominal travel (m) of one coarse z step towards the sample, as the station file
        gives it; None when this scanner has no coarse z positioner. Stick-slip steps vary
        with temperature, load and direction: trust it to a factor of two, no better."""
        return None

    def _coarse_z_steps(self, steps: int, pacer: Pacer) -> None:
        """Primitive: `steps` coarse z steps, positive towards the sample (the fine z withdrawn)."""
        raise InstrumentError("scanner: this scanner has no coarse z positioner")

    def coarse_z_steps(self, steps: int, pacer: Pacer) -> None:
        """`steps` coarse z steps (positive: towards the sample), the fine z withdrawn fully
        first. From the first step on the surface is unknown (record_surface(None)): nothing
        approaches it, and no scan runs, until a touchdown has found it again."""
        if self.coarse_z_step() is None:
            raise InstrumentError("scanner: this scanner has no coarse z positioner")
        count = self._before_coarse_steps(steps, pacer)
        if count:
            self._coarse_z_steps(count, pacer)

    def _before_coarse_steps(self, steps: int, pacer: Pacer) -> int:
        """What any coarse step needs first (a lateral one too puts another part of the sample
        under the sensor): `steps` checked to be a whole number and, unless it is 0, the fine
        z withdrawn fully and the surface forgotten. Returns the count."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise UserInputError(f"coarse steps must be a whole number, got {steps!r}")
        if steps:
            self.withdraw_fully(pacer)
            self.record_surface(None)  # before the first step: an abort mid-way leaves it unknown too
        return int(steps)

    def withdraw_fully(self, pacer: Pacer) -> None:
        """z to the top of the fine z's reach (highest_reachable_z), whatever the known surface:
        before coarse steps, and where a search for the surface starts."""
        top = self.highest_reachable_z()
        if not math.isfinite(top):
            raise InstrumentError("scanner: the fine z has no top of its reach to withdraw to")
        self._move_z(top, pacer)

    @abstractmethod
    def _scan_line(self, line: ScanLine, readout: "SquidReadout", signal: str, pacer: Pacer) -> np.ndarray:
        """Primitive: one hardware-timed line, position and readout synchronised (z along
        `line.z` when given)."""

    def check_line(self, line: ScanLine) -> None:
        """Refuse a line that leaves the scan range, or (with its z, or the present z) the
        piezo's reach or the station's height limits above the known surface. The range is
        a rectangle and the known surface a plane, so checking both ends checks the line."""
        for x, y in (line.start, line.end):
            self.limits.scanner_x.check(x)
            self.limits.scanner_y.check(y)
        if line.z is not None:  # the line commands z: all of it in reach and within the limits
            for (x, y), z in ((line.start, line.z[0]), (line.end, line.z[1])):
                self.check_z(x, y, z, "scan line")
        elif self.surface is None:  # at the present z, over a surface not known: only fully withdrawn
            self._require_withdrawn("a scan line")
        elif not self._surface_is_level():  # at the present z: clear of the surface
            present = self.position()[2]
            for x, y in (line.start, line.end):
                height = self.height_above_surface(x, y, present)
                if height < self.limits.scanner_z.minimum:
                    raise InstrumentError(
                        f"scanner: scan line: at ({x * 1e6:.2f}, {y * 1e6:.2f}) um this z leaves the sensor "
                        f"{height * 1e6:.3f} um above the surface, below the station limit "
                        f"{self.limits.scanner_z.minimum * 1e6:g} um")

    def scan_line(self, line: ScanLine, readout: "SquidReadout", signal: str, pacer: Pacer) -> np.ndarray:
        """Scan one line and return the readout's `signal` at each point. The whole line
        is checked (`check_line`) before anything moves."""
        if signal not in SIGNAL_UNITS:
            raise ValueError(f"unknown signal {signal!r} (known: {', '.join(SIGNAL_UNITS)})")
        self.check_line(line)
        values = np.asarray(self._scan_line(line, readout, signal, pacer), dtype=float)
        if values.shape != (line.n_points,):
            raise InstrumentError(f"scanner returned {values.shape} samples for a line of {line.n_points}")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InstrumentError(
                f"scanner: {bad.size} of {line.n_points} samples of the line are not finite "
                f"(first at sample {bad[0]}: {values[bad[0]]!r}); instrument fault"
            )
        return values

    def safe_state(self, pacer: Pacer) -> None:
        self.retract(pacer)

    def snapshot(self) -> dict:
        x, y, z = self.position()
        snapshot = {"identity": self.identity(), "x_m": x, "y_m": y, "z_m": z}
        if self.surface is None:
            snapshot["surface_source"] = "unknown"
        else:
            snapshot.update(self.surface.snapshot())
        return snapshot


class TouchdownSensor(Role):
    """What tells the sensor's contact with the sample: the capacitance between the
    sensor chip and the sample, as the out-of-balance signal of a capacitance bridge read
    by a lock-in (V). It rises as the gap closes and stops rising at contact."""

    role_name = "touchdown"
    finite_readings = ("read_signal",)

    @abstractmethod
    def read_signal(self, integration_time: float, pacer: Pacer) -> float:
        """The bridge signal (V) averaged over `integration_time` s."""

    def safe_state(self, pacer: Pacer) -> None:
        """Reading is harmless: nothing to do."""

    def snapshot(self) -> dict:
        return {"identity": self.identity()}


class SquidReadout(Role):
    """Nano-SQUID readout: DC flux through the flux-locked loop (Phi0)."""

    role_name = "squid"
    finite_readings = ("read_flux", "read_susceptibility")

    @property
    @abstractmethod
    def pickup_radius(self) -> float:
        """Radius (m) of the pickup loop: the point-spread function of flux images."""

    @abstractmethod
    def read_flux(self, integration_time: float, pacer: Pacer) -> float:
        """Mean flux (Phi0) over `integration_time` seconds."""

    @abstractmethod
    def read_susceptibility(self, integration_time: float, pacer: Pacer) -> float:
        """AC susceptometry through the lock-in: pickup flux per field-coil current (Phi0/A)."""

    @abstractmethod
    def is_locked(self) -> bool:
        """False when the flux-locked loop has lost lock (readings then mean nothing)."""

    def unlock_count(self) -> int | None:
        """How many times the loop has lost lock since it was switched on (electronics with
        an unlock counter); None where the readout cannot tell (then only is_locked())."""
        return None

    def read(self, signal: str, integration_time: float, pacer: Pacer) -> float:
        """Read `signal` ('flux' in Phi0 or 'susceptibility' in Phi0/A)."""
        if signal == "flux":
            return self.read_flux(integration_time, pacer)
        if signal == "susceptibility":
            return self.read_susceptibility(integration_time, pacer)
        raise ValueError(f"unknown signal {signal!r} (known: {', '.join(SIGNAL_UNITS)})")

    def safe_state(self, pacer: Pacer) -> None:
        """Reading is harmless: nothing to do."""

    def snapshot(self) -> dict:
        return {"identity": self.identity(), "locked": self.is_locked(), "pickup_radius_m": self.pickup_radius}


class Voltmeter(Role):
    """Four-probe voltage across the sample (V)."""

    role_name = "voltmeter"
    finite_readings = ("read_voltage",)

    @abstractmethod
    def read_voltage(self, integration_time: float, pacer: Pacer) -> float:
        """Mean voltage (V) over `integration_time` seconds."""

    def safe_state(self, pacer: Pacer) -> None:
        """Reading is harmless: nothing to do."""

    def snapshot(self) -> dict:
        return {"identity": self.identity()}


@dataclass(frozen=True)
class WorkingPoint:
    """Where the SQUID is operated: its bias (A), the applied field (T), and its transfer
    there (V/Phi0, signed) with the voltage it reads (V): a flux-locked loop locks there,
    an open-loop readout converts voltage to flux with them."""

    bias: float
    field: float
    transfer: float
    voltage: float

    def snapshot(self) -> dict:
        return {"working_point_bias_A": self.bias, "working_point_field_T": self.field,
                "working_point_transfer_V_per_Phi0": self.transfer, "working_point_voltage_V": self.voltage}


class SquidBias(_CurrentOutput):
    """The nano-SQUID's own bias current (A) and the voltage across it (V).

    A role of its own, not part of SquidReadout: on hardware it is a separate current
    source (and a voltmeter or DAQ input), with its own limits (`limits.squid_bias`),
    while the flux-locked loop stays an analog input; a station without one still reads
    flux. A nano-SQUID dies from a current spike, so the bias only ever ramps, from its
    measured value, within its own limits, and is zeroed in the safe state.
    """

    role_name = "squid_bias"
    finite_readings = ("read_current", "read_voltage")
    commands = ("_apply_current", "_set_output")

    def __init__(self) -> None:
        super().__init__()
        self.working_point: WorkingPoint | None = None

    @abstractmethod
    def read_voltage(self, integration_time: float, pacer: Pacer) -> float:
        """Mean voltage across the SQUID (V) over `integration_time` s."""

    def ramp_to(self, target: float, pacer: Pacer, rate: float | None = None) -> None:
        """Ramp from the measured bias to `target` (A) at `rate` (A/s, default: the station's)."""
        limits = self.limits
        current, ramp = limits.squid_bias_limits("the SQUID bias")
        current.check(target)
        rate = ramp.check(ramp.default if rate is None else rate)
        self.check_target(target, rate)
        _ramp_output(self, target, rate, pacer, "present SQUID bias")

    def record_working_point(self, point: WorkingPoint, pacer: Pacer) -> None:
        """Remember the working point the station operates the SQUID at (set by the
        working_point step, after the bias and field are there)."""
        self.working_point = point

    def emergency_stop(self) -> str:
        self._set_output(False)
        return "SQUID bias output switched off without a ramp"

    def snapshot(self) -> dict:
        snapshot = super().snapshot()
        if self.working_point is not None:
            snapshot.update(self.working_point.snapshot())
        return snapshot
