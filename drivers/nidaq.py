"""NI X-series DAQ as the station's `Scanner` (piezo x, y, z through an HV amplifier)
and as its `SquidReadout` (the flux-locked-loop output on an analog input).

No public driver exists for SQUID electronics, so the FLL is "analog input +
calibration": flux (Phi0) = volts x `phi0_per_volt`.

The seam
--------
NI's `nidaqmx` package needs NI's C driver, so it is imported only when an adapter
is built (`load_nidaqmx`), never when this module is imported. The adapters receive
a `DAQmx`: the task factory and the few constants they use. Tests build one from a
fake module with `DAQmx.from_module(fake)`, which only needs `Task()` (with the
nidaqmx task API: `ao_channels.add_ao_voltage_chan`, `ai_channels.add_ai_voltage_chan`,
`di_channels.add_di_chan`, `timing.cfg_samp_clk_timing`,
`triggers.start_trigger.cfg_dig_edge_start_trig`, `write`, `read`, `start`,
`wait_until_done`, `close`) and `constants.AcquisitionType.FINITE`, `constants.Edge.RISING`.

Station file blocks::

    scanner:
      driver: nidaq_scanner
      device: Dev1
      cold: true                    # which voltage limits are in force: cold or warm
      piezo_speed: 5 um/s           # on-demand moves go this fast, in small steps
      max_step_volts: 20 mV         # optional: largest voltage step of an on-demand move
      sample_rate_limits: [10 Hz, 100 kHz]   # optional: allowed sample rate of a scan line
      axes:                         # DAQ volts at the AO pin (the HV amplifier gain is in meters_per_volt)
        x: {channel: ao0, meters_per_volt: 6 um/V, center_volts: 0, warm_volts: [-2, 2], cold_volts: [-10, 10]}
        y: {channel: ao1, meters_per_volt: 6 um/V, center_volts: 0, warm_volts: [-2, 2], cold_volts: [-10, 10]}
        z: {channel: ao2, meters_per_volt: 0.5 um/V, surface_volts: -8, warm_volts: [-2, 2], cold_volts: [-10, 10]}

    squid:
      driver: nidaq_fll
      device: Dev1                  # the same DAQ as the scanner for hardware-timed lines
      channel: ai0                  # FLL output
      phi0_per_volt: 0.25 Phi0/V    # FLL calibration
      pickup_radius: 0.1 um
      input_range: 10 V             # optional: the AI channel reads +-input_range
      unlock_threshold: 9.5 V       # optional: |V| at or above it counts as unlocked (railed)
      sample_rate: 10 kHz           # optional: sample rate of read_flux
      lock_line: port0/line0        # optional: digital "locked" line of the FLL electronics (high = locked)

Positions: x = (V_x - center_volts) * meters_per_volt, likewise y; z, the z piezo's
coordinate, is (V_z - surface_volts) * meters_per_volt, zero at the station file's
surface_volts (a touchdown's voltage). The z the piezo can reach, `z_range()`, is the
active z voltage limits in that coordinate: the core checks a trajectory against it
before anything moves.

Scan lines: one finite, hardware-timed AO task (x and y, and z when the line gives its
own z, n_points samples at n_points/duration) and one finite AI task on the FLL channel
with the same clock rate and count; the AO task's start trigger is the AI task's
(`/<device>/ai/StartTrigger`), so both start on the same edge. A line with z (a line
following a tilted surface) writes z linear from line.z[0] to line.z[1] over its samples,
through the z calibration, from the same task as x and y: the three move together on
one clock. Only the DC flux is hardware-timed. For `susceptibility` (which goes through
a lock-in), or when the readout is not a DAQ FLL on this device, the line is scanned
point by point: move x, y (and z) together, then `readout.read(signal, dwell)` at each
sample, like the ANC300 scanner. A lock-in needs several time constants per point
anyway, so a hardware-timed line would gain nothing. The flight to a line's start moves
x, y and z together in a straight line: between two points that are both clear of a
plane surface, every point of the straight path is clear too.

Safety:
* Every voltage an on-demand move or a scan line would write (x, y, and z for a line
  with z) is checked against the active (cold or warm) limits of its axis before the
  first task is created; one outside refuses the whole move (LimitError), never
  clamped. The same limits are the AO channels' min_val/max_val, so NI-DAQmx refuses
  them too.
* A retract is never refused for asking too much: where the top of the station's z
  range lies beyond the active z voltage limits, it stops at the limit on the side
  away from the sample (`z_range()[1]`). An approach beyond them is refused.
* Moves start from the output voltages measured through the X-series internal
  channels `_aoN_vs_aognd` when the scanner is built (and again after an interrupted
  line), then from the voltages this scanner wrote.
* Every task is closed when its operation ends, also on errors and aborts.
* Readings are never clipped: a railed FLL output is returned as measured, and
  `is_locked` (watched by the `squid_lock` interlock) reports it.
"""

from __future__ import annotations

import importlib
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.pacing import Pacer
from sqm.roles import ScanLine, Scanner, SquidReadout

from .base import HardwareContext, check_known_keys, guarded, log_exchanges, quantity_setting, setting

logger = logging.getLogger(__name__)

SCAN_AXES = ("x", "y", "z")
# X-series analog outputs span +-10 V; the readback of the outputs uses this range.
AO_RANGE_V = 10.0
DEFAULT_MAX_STEP_VOLTS = 0.02
DEFAULT_SAMPLE_RATE_LIMITS_HZ = (1.0, 100e3)
DEFAULT_INPUT_RANGE_V = 10.0
DEFAULT_UNLOCK_THRESHOLD_V = 9.5
DEFAULT_READOUT_SAMPLE_RATE_HZ = 10e3
# A finite, sample-clocked acquisition needs at least two samples on NI devices.
MIN_FINITE_SAMPLES = 2
# Reads get this much time (s) beyond the acquisition itself before NI-DAQmx gives up.
READ_TIMEOUT_MARGIN_S = 2.0

MISSING_NIDAQMX = (
    "the NI-DAQ backend needs NI's nidaqmx package and driver "
    "(pip install nidaqmx, and NI-DAQmx from ni.com on the instrument PC)"
)


# --- the seam: nidaqmx, imported only when used


@dataclass(frozen=True)
class DAQmx:
    """What the adapters use of nidaqmx: a task factory and two constants."""

    new_task: Callable[[], Any]  # returns an object with nidaqmx.Task's API
    finite: Any  # nidaqmx.constants.AcquisitionType.FINITE
    rising_edge: Any  # nidaqmx.constants.Edge.RISING

    @classmethod
    def from_module(cls, module: Any) -> "DAQmx":
        """From `nidaqmx` itself, or from a fake with the same `Task` and `constants`."""
        constants = module.constants
        return cls(new_task=module.Task, finite=constants.AcquisitionType.FINITE, rising_edge=constants.Edge.RISING)


def load_nidaqmx() -> DAQmx:
    """Import nidaqmx now; InstrumentError with what to install if it is missing."""
    try:
        module = importlib.import_module("nidaqmx")
        importlib.import_module("nidaqmx.constants")
    except ImportError as error:
        raise InstrumentError(f"{MISSING_NIDAQMX}: {error}") from None
    return DAQmx.from_module(module)


@contextmanager
def _open_task(daqmx: DAQmx, what: str) -> Iterator[Any]:
    """A new task, closed when the block ends (a failing close never hides the block's own error).
    What it writes and reads is logged at DEBUG, as "<what> -> <volts>" and "<what> <- <samples>"."""
    task = guarded(f"{what}: create task", daqmx.new_task)
    log_exchanges(task, what, logger)
    try:
        yield task
    except BaseException:
        try:
            task.close()
        except Exception:  # the block's error (or abort) is the one to report
            pass
        raise
    guarded(f"{what}: close task", task.close)


def _samples(data: Any, n_channels: int) -> np.ndarray:
    """What `Task.read` returned (a number, a list, or one list per channel) as
    float volts of shape (n_channels, n_samples)."""
    array = np.asarray(data, dtype=float)
    return array.reshape(n_channels, -1)


# --- settings


def _quantity(config: dict, key: str, unit: str, default: Any = ...) -> Any:
    """A setting in `unit` ('m/V', 'm/s', 'V', 'Hz', 'Phi0/V', 'm'): a bare number is
    already in `unit`; a string may carry any convertible unit ('0.5 um/V')."""
    if key not in config and default is not ...:
        return default
    number = quantity_setting(config, key, unit)
    if isinstance(config[key], str):
        number = float(f"{number:.12g}")  # drop unit-conversion noise: '6 um/V' is 6e-6 exactly
    return number


def _span(config: dict, key: str, unit: str) -> tuple[float, float]:
    """A [low, high] setting in `unit`, low < high."""
    span = setting(config, key)
    if not (isinstance(span, (list, tuple)) and len(span) == 2):
        raise UserInputError(f"{key} must be [min, max] in {unit}, got {span!r}")
    low, high = (_quantity({key: value}, key, unit) for value in span)
    if not low < high:
        raise UserInputError(f"{key} [{low:g}, {high:g}] {unit} must have its minimum below its maximum")
    return low, high


def _physical_channel(device: str, name: Any, what: str) -> str:
    """'ao0' or 'Dev1/ao0' -> 'Dev1/ao0' (likewise 'port0/line0'); a channel of another
    device is refused (the start trigger and the internal readback channels are per device)."""
    if not isinstance(name, str) or not name.strip():
        raise UserInputError(f"{what}: expected a channel name such as 'ao0', got {name!r}")
    name = name.strip().lstrip("/")
    owner, _, local = name.partition("/")
    if local and not owner.startswith("port"):  # digital lines are 'port0/line0' on the device itself
        if owner != device:
            raise UserInputError(f"{what}: channel {name!r} is not on device {device!r}")
        name = local
    return f"{device}/{name}"


def _device(config: dict) -> str:
    device = setting(config, "device")
    if not isinstance(device, str) or not device.strip() or "/" in device:
        raise UserInputError(f"device must be an NI-DAQmx device name such as 'Dev1', got {device!r}")
    return device.strip()


# --- the scanner


@dataclass(frozen=True)
class PiezoAxis:
    """One piezo axis: its AO channel, calibration and voltage limits (at the DAQ pin)."""

    name: str  # x, y or z
    channel: str  # physical AO channel, e.g. 'Dev1/ao0'
    meters_per_volt: float  # m per DAQ volt, HV amplifier gain included; signed
    zero_volts: float  # V at position 0: center_volts (x, y) or surface_volts (z)
    warm_volts: tuple[float, float]  # V, allowed at room temperature
    cold_volts: tuple[float, float]  # V, allowed cold

    def __post_init__(self) -> None:
        if not (math.isfinite(self.meters_per_volt) and self.meters_per_volt != 0):
            raise UserInputError(f"axes.{self.name}: meters_per_volt must be a non-zero calibration (m/V)")
        for state, (low, high) in (("warm", self.warm_volts), ("cold", self.cold_volts)):
            if not -AO_RANGE_V <= low < high <= AO_RANGE_V:
                raise UserInputError(
                    f"axes.{self.name}: {state}_volts [{low:g}, {high:g}] V must be an interval inside "
                    f"the AO range [{-AO_RANGE_V:g}, {AO_RANGE_V:g}] V"
                )

    def limits(self, cold: bool) -> tuple[float, float]:
        """The voltage limits (V) in force."""
        return self.cold_volts if cold else self.warm_volts

    def volts(self, meters: Any) -> Any:
        """DAQ volts for a position (m); works on arrays."""
        return self.zero_volts + np.asarray(meters, dtype=float) / self.meters_per_volt

    def meters(self, volts: float) -> float:
        """Position (m) for DAQ volts."""
        return (volts - self.zero_volts) * self.meters_per_volt

    @property
    def readback_channel(self) -> str:
        """The X-series internal channel that measures this output ('Dev1/_ao0_vs_aognd')."""
        device, _, local = self.channel.partition("/")
        return f"{device}/_{local}_vs_aognd"

    @classmethod
    def from_config(cls, device: str, name: str, block: Any) -> "PiezoAxis":
        if not isinstance(block, dict):
            raise UserInputError(f"axes.{name} must be a mapping")
        zero_key = "surface_volts" if name == "z" else "center_volts"
        check_known_keys(block, {"channel", "meters_per_volt", zero_key, "warm_volts", "cold_volts"})
        try:
            return cls(
                name=name,
                channel=_physical_channel(device, setting(block, "channel"), "channel"),
                meters_per_volt=_quantity(block, "meters_per_volt", "m/V"),
                # z has no default: the surface comes from a touchdown, not from a guess
                zero_volts=_quantity(block, zero_key, "V", default=... if name == "z" else 0.0),
                warm_volts=_span(block, "warm_volts", "V"),
                cold_volts=_span(block, "cold_volts", "V"),
            )
        except UserInputError as error:
            message = str(error)
            raise UserInputError(message if message.startswith("axes.") else f"axes.{name}: {message}") from None


@dataclass(frozen=True)
class FluxInput:
    """Where a hardware-timed line reads the flux: an AI channel and its calibration."""

    channel: str  # physical AI channel, e.g. 'Dev1/ai0'
    phi0_per_volt: float  # Phi0/V
    input_range: float  # V, the channel reads +-input_range
    readout: "NIDAQFluxReadout"  # whose lock the line's own samples tell while it holds the input


class NIDAQScanner(Scanner):
    """x, y (m) and z (m, the z piezo's coordinate) from three analog outputs of one NI X-series DAQ.

    Build it with a `DAQmx` (tests pass a fake) or from a station-file block with
    `from_config`. Building measures the present output voltages (no output changes).
    """

    def __init__(
        self,
        daqmx: DAQmx,
        device: str,
        axes: dict[str, PiezoAxis],
        cold: bool,
        piezo_speed: float,
        max_step_volts: float = DEFAULT_MAX_STEP_VOLTS,
        sample_rate_limits: tuple[float, float] = DEFAULT_SAMPLE_RATE_LIMITS_HZ,
        shared: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if set(axes) != set(SCAN_AXES):
            raise UserInputError(f"axes must be exactly x, y and z, got {', '.join(sorted(axes)) or 'none'}")
        channels = [axis.channel for axis in axes.values()]
        if len(set(channels)) != len(channels):
            raise UserInputError(f"each axis needs its own AO channel, got {', '.join(channels)}")
        if not isinstance(cold, bool):
            raise UserInputError(f"cold must be true or false, got {cold!r}")
        if not piezo_speed > 0:
            raise UserInputError(f"piezo_speed must be positive (m/s), got {piezo_speed!r}")
        if not max_step_volts > 0:
            raise UserInputError(f"max_step_volts must be positive (V), got {max_step_volts!r}")
        low_rate, high_rate = sample_rate_limits
        if not 0 < low_rate < high_rate:
            raise UserInputError(f"sample_rate_limits must be 0 < min < max (Hz), got {list(sample_rate_limits)}")
        self.daqmx = daqmx
        self.device = device
        self.axes = {name: axes[name] for name in SCAN_AXES}
        self.cold = cold
        self.piezo_speed = float(piezo_speed)
        self.max_step_volts = float(max_step_volts)
        self.sample_rate_limits = (float(low_rate), float(high_rate))
        # Devices used by several roles of the station (the FLL readout registers here).
        self.shared = shared if shared is not None else {}
        self._output_volts: dict[str, float] = self.measure_output_volts()

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext, daqmx: DAQmx | None = None) -> "NIDAQScanner":
        """Check a station-file block, load nidaqmx (unless `daqmx` is given), measure the outputs."""
        check_known_keys(config, {"device", "cold", "piezo_speed", "max_step_volts", "sample_rate_limits", "axes"})
        device = _device(config)
        axes_block = setting(config, "axes")
        if not isinstance(axes_block, dict):
            raise UserInputError("axes must be a mapping with x, y and z")
        unknown = set(axes_block) - set(SCAN_AXES)
        if unknown:
            raise UserInputError(f"axes: unknown axis names {', '.join(sorted(map(str, unknown)))}")
        axes = {}
        for name in SCAN_AXES:
            if name not in axes_block:
                raise UserInputError(f"axes.{name} is missing")
            axes[name] = PiezoAxis.from_config(device, name, axes_block[name])
        rate_limits = DEFAULT_SAMPLE_RATE_LIMITS_HZ
        if "sample_rate_limits" in config:
            rate_limits = _span(config, "sample_rate_limits", "Hz")
        # The whole block is checked before nidaqmx is loaded or the device touched.
        arguments = dict(
            device=device,
            axes=axes,
            cold=setting(config, "cold"),
            piezo_speed=_quantity(config, "piezo_speed", "m/s"),
            max_step_volts=_quantity(config, "max_step_volts", "V", default=DEFAULT_MAX_STEP_VOLTS),
            sample_rate_limits=rate_limits,
            shared=context.shared,
        )
        return cls(daqmx if daqmx is not None else load_nidaqmx(), **arguments)

    # --- identity and snapshot

    def identity(self) -> str:
        channels = ", ".join(f"{name} {axis.channel}" for name, axis in self.axes.items())
        return f"NI-DAQ piezo scanner on {self.device} ({channels}; {self._state} limits)"

    @property
    def _state(self) -> str:
        return "cold" if self.cold else "warm"

    def voltage_limits(self, name: str) -> tuple[float, float]:
        """The active voltage limits (V) of axis `name`."""
        return self.axes[name].limits(self.cold)

    def output_volts(self) -> dict[str, float]:
        """The present output voltages (V) per axis, as measured or last written."""
        return dict(self._output_volts)

    def snapshot(self) -> dict:
        return {
            **super().snapshot(),
            "device": self.device,
            "cold": self.cold,
            "piezo_speed_m_per_s": self.piezo_speed,
            "max_step_volts_V": self.max_step_volts,
            "sample_rate_limits_Hz": list(self.sample_rate_limits),
            "output_volts_V": self.output_volts(),
            "axes": {
                name: {
                    "channel": axis.channel,
                    "meters_per_volt_m_per_V": axis.meters_per_volt,
                    ("surface_volts_V" if name == "z" else "center_volts_V"): axis.zero_volts,
                    "active_limits_V": list(axis.limits(self.cold)),
                    "warm_volts_V": list(axis.warm_volts),
                    "cold_volts_V": list(axis.cold_volts),
                }
                for name, axis in self.axes.items()
            },
        }

    # --- outputs

    def measure_output_volts(self) -> dict[str, float]:
        """Read the present AO voltages (V) through the device's internal channels."""
        what = f"NI-DAQ {self.device} output readback"

        def read() -> np.ndarray:
            with _open_task(self.daqmx, what) as task:
                for axis in self.axes.values():
                    task.ai_channels.add_ai_voltage_chan(axis.readback_channel, min_val=-AO_RANGE_V, max_val=AO_RANGE_V)
                return _samples(task.read(number_of_samples_per_channel=1), len(self.axes))

        volts = guarded(what, read).mean(axis=1)
        return {name: float(value) for name, value in zip(self.axes, volts)}

    def position(self) -> tuple[float, float, float]:
        x, y, z = (self.axes[name].meters(self._output_volts[name]) for name in SCAN_AXES)
        return x, y, z

    def _check_volts(self, name: str, volts: Any, what: str) -> None:
        """LimitError unless every voltage in `volts` is inside the active limits of axis `name`."""
        low, high = self.voltage_limits(name)
        values = np.atleast_1d(np.asarray(volts, dtype=float))
        outside = values[~((values >= low) & (values <= high))]
        if outside.size:
            worst = outside[np.argmax(np.abs(outside - (low + high) / 2))]
            raise LimitError(
                f"{what}: {name} piezo voltage {worst:.4g} V is outside the {self._state} limits "
                f"[{low:g}, {high:g}] V of {self.axes[name].channel}"
            )

    def _ramp_outputs(self, targets: dict[str, float], pacer: Pacer) -> None:
        """Step the named outputs together from their present voltages to `targets` (V), at
        piezo_speed, in steps of at most max_step_volts; every step is checked before the
        task is created."""
        names = list(targets)
        present = {name: self._output_volts[name] for name in names}
        for name in names:
            if not math.isfinite(present[name]):
                raise InstrumentError(f"the present {name} output is unknown; refusing to move from it")
        largest_step = max(abs(targets[name] - present[name]) for name in names)
        if largest_step == 0:
            return
        count = max(1, math.ceil(largest_step / self.max_step_volts - 1e-9))
        fractions = np.arange(1, count + 1) / count
        plan = {name: present[name] + (targets[name] - present[name]) * fractions for name in names}
        for name in names:
            plan[name][-1] = targets[name]  # land exactly on the target
            # a start outside the active limits (left from the other temperature) refuses the move here
            self._check_volts(name, np.concatenate([[present[name]], plan[name]]), "move")
        distance = math.sqrt(sum(((targets[n] - present[n]) * self.axes[n].meters_per_volt) ** 2 for n in names))
        step_wait = distance / self.piezo_speed / count
        what = f"NI-DAQ {self.device} move {', '.join(names)}"
        with _open_task(self.daqmx, what) as task:
            for name in names:
                low, high = self.voltage_limits(name)
                channel = self.axes[name].channel
                guarded(what, lambda: task.ao_channels.add_ao_voltage_chan(channel, min_val=low, max_val=high))
            for index in range(count):
                step = [float(plan[name][index]) for name in names]
                try:
                    guarded(what, lambda: task.write(step, auto_start=True))
                except InstrumentError:
                    # the failed write may or may not have reached the pins
                    self._remeasure_outputs()
                    raise
                self._output_volts.update(zip(names, step))
                pacer.wait(step_wait)

    def _remeasure_outputs(self) -> None:
        """After an interrupted operation: measure where the outputs are (NaN if even that fails,
        so the next move is refused instead of starting from a guess)."""
        try:
            self._output_volts = self.measure_output_volts()
        except Exception:  # the original error is the one to report
            self._output_volts = {name: math.nan for name in SCAN_AXES}

    def _move_xy(self, x: float, y: float, pacer: Pacer) -> None:
        """Move laterally to (x, y) m at piezo_speed."""
        self._ramp_outputs({"x": float(self.axes["x"].volts(x)), "y": float(self.axes["y"].volts(y))}, pacer)

    def _move_z(self, z: float, pacer: Pacer) -> None:
        """Move z to `z` (m, the scanner's coordinate) at piezo_speed."""
        self._ramp_outputs({"z": float(self.axes["z"].volts(z))}, pacer)

    def z_range(self) -> tuple[float, float]:
        """The z (m) at the two ends of the active (cold or warm) z voltage limits, lowest
        first: what the z piezo can reach now. Its top (the end away from the sample: the
        upper voltage for a positive meters_per_volt, the lower for a negative) is
        `highest_reachable_z`, where a retract the limits cut short stops instead of
        being refused."""
        ends = sorted(self._z_at_voltage_limit(volts) for volts in self.voltage_limits("z"))
        return ends[0], ends[1]

    def _z_at_voltage_limit(self, limit: float) -> float:
        """The z (m) at voltage `limit` (V), one of the active z limits, whose own voltage is
        inside them: z -> V may land an ulp beyond the limit, so the nearest of the
        neighbouring z values inside is taken (every move checks its voltages again anyway)."""
        axis = self.axes["z"]
        low, high = self.voltage_limits("z")
        nominal = axis.meters(limit)
        candidates, up, down = [nominal], nominal, nominal
        for _ in range(4):
            up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
            candidates += [up, down]
        inside = [z for z in candidates if low <= float(axis.volts(z)) <= high]
        return min(inside, key=lambda z: abs(z - nominal)) if inside else nominal

    # --- scanning

    def line_rate(self, line: ScanLine) -> float:
        """Sample rate (Hz) of a hardware-timed line, checked against sample_rate_limits."""
        rate = line.n_points / line.duration
        low, high = self.sample_rate_limits
        if not low <= rate <= high:
            raise LimitError(
                f"a line of {line.n_points} points in {line.duration:g} s needs {rate:.6g} samples/s, outside "
                f"this DAQ's sample rate limits [{low:g}, {high:g}] Hz"
            )
        return rate

    def flux_input_for(self, readout: SquidReadout) -> FluxInput | None:
        """The FLL input a hardware-timed line reads for `readout`: its own channel if it is a
        DAQ FLL readout, else the FLL readout registered for this device; None if there is none."""
        fll = readout if isinstance(readout, NIDAQFluxReadout) else self.shared.get(self.device)
        if not isinstance(fll, NIDAQFluxReadout):
            return None
        if fll.device != self.device:
            raise InstrumentError(
                f"the FLL readout is on {fll.device}, the scanner on {self.device}: a hardware-timed line "
                "needs both on one DAQ (the AO start trigger is the AI task's)"
            )
        return FluxInput(fll.channel, fll.phi0_per_volt, fll.input_range, fll)

    def _scan_line(self, line: ScanLine, readout: SquidReadout, signal: str, pacer: Pacer) -> np.ndarray:
        """Flux: one hardware-timed line (AO x, y, and z when the line has its own, and AI FLL on
        one clock, started together).
        Susceptibility, or a readout that is not a DAQ FLL: point by point (see the module notes)."""
        flux_input = self.flux_input_for(readout) if signal == "flux" else None
        if flux_input is None:
            return self._scan_line_point_by_point(line, readout, signal, pacer)
        return self._scan_line_timed(line, flux_input, pacer)

    def _line_volts(self, line: ScanLine) -> dict[str, np.ndarray]:
        """The voltages (V) of every sample of the line per axis it drives: x and y, and z when
        the line gives its own (linear from line.z[0] to line.z[1]); all checked against the
        active limits, so a line is refused whole before anything moves."""
        xs, ys = line.points()
        volts = {"x": self.axes["x"].volts(xs), "y": self.axes["y"].volts(ys)}
        if line.z is not None:
            volts["z"] = self.axes["z"].volts(line.z_points(self.position()[2]))
        for name, axis_volts in volts.items():
            self._check_volts(name, axis_volts, "scan line")
        return volts

    @staticmethod
    def _sample(volts: dict[str, np.ndarray], index: int) -> dict[str, float]:
        """The voltages (V) of sample `index` of a line, per axis."""
        return {name: float(axis_volts[index]) for name, axis_volts in volts.items()}

    def _scan_line_point_by_point(self, line: ScanLine, readout: SquidReadout, signal: str, pacer: Pacer) -> np.ndarray:
        volts = self._line_volts(line)  # the whole line is checked before the first move
        values = []
        for index in range(line.n_points):
            self._ramp_outputs(self._sample(volts, index), pacer)  # x, y (and z) together
            values.append(readout.read(signal, line.dwell, pacer))
        return np.asarray(values, dtype=float)

    def _scan_line_timed(self, line: ScanLine, flux_input: FluxInput, pacer: Pacer) -> np.ndarray:
        volts = self._line_volts(line)
        names = list(volts)  # the AO channels of the line: x, y (and z), in this order
        rate = self.line_rate(line)
        n_points = line.n_points
        # fly to the start (x, y and z together), so the line's first sample is no jump
        self._ramp_outputs(self._sample(volts, 0), pacer)
        what = f"NI-DAQ {self.device} scan line"
        timeout = line.duration + READ_TIMEOUT_MARGIN_S
        finished = False
        flux_input.readout.line_in_progress = True  # the input is the line's until it ends
        try:
            with _open_task(self.daqmx, f"{what} (AO)") as ao_task, _open_task(self.daqmx, f"{what} (AI)") as ai_task:

                def configure() -> None:
                    for name in names:
                        low, high = self.voltage_limits(name)
                        ao_task.ao_channels.add_ao_voltage_chan(self.axes[name].channel, min_val=low, max_val=high)
                    ai_task.ai_channels.add_ai_voltage_chan(
                        flux_input.channel, min_val=-flux_input.input_range, max_val=flux_input.input_range
                    )
                    for task in (ao_task, ai_task):
                        task.timing.cfg_samp_clk_timing(
                            rate, source="", active_edge=self.daqmx.rising_edge,
                            sample_mode=self.daqmx.finite, samps_per_chan=n_points,
                        )
                    # AO waits for the AI task's start: both begin on the same edge.
                    ao_task.triggers.start_trigger.cfg_dig_edge_start_trig(
                        trigger_source=f"/{self.device}/ai/StartTrigger", trigger_edge=self.daqmx.rising_edge
                    )
                    ao_task.write([volts[name].tolist() for name in names], auto_start=False)
                    ao_task.start()  # armed, waiting for the trigger
                    ai_task.start()  # starts both

                guarded(what, configure)
                pacer.wait(line.duration)
                fll_volts = guarded(
                    what, lambda: ai_task.read(number_of_samples_per_channel=n_points, timeout=timeout)
                )
                guarded(what, lambda: ao_task.wait_until_done(timeout=timeout))
            finished = True
        finally:
            flux_input.readout.line_in_progress = False
            if finished:
                self._output_volts.update(self._sample(volts, -1))
            else:
                self._remeasure_outputs()  # an abort or fault stopped the line somewhere along it
        samples = _samples(fll_volts, 1)[0]
        flux_input.readout.check_line_locked(samples)
        return samples * flux_input.phi0_per_volt


# --- the FLL readout


class NIDAQFluxReadout(SquidReadout):
    """DC flux (Phi0) from the flux-locked-loop output on one analog input of an NI DAQ.

    Registers itself in the station's shared devices under its device name, so a
    NIDAQScanner on the same DAQ reads its channel with its calibration.
    """

    def __init__(
        self,
        daqmx: DAQmx,
        device: str,
        channel: str,
        phi0_per_volt: float,
        pickup_radius: float,
        input_range: float = DEFAULT_INPUT_RANGE_V,
        unlock_threshold: float = DEFAULT_UNLOCK_THRESHOLD_V,
        sample_rate: float = DEFAULT_READOUT_SAMPLE_RATE_HZ,
        lock_line: str | None = None,
    ) -> None:
        super().__init__()
        if not (math.isfinite(phi0_per_volt) and phi0_per_volt != 0):
            raise UserInputError(f"phi0_per_volt must be a non-zero calibration (Phi0/V), got {phi0_per_volt!r}")
        if not pickup_radius > 0:
            raise UserInputError(f"pickup_radius must be positive (m), got {pickup_radius!r}")
        if not 0 < input_range <= AO_RANGE_V:
            raise UserInputError(f"input_range must be in (0, {AO_RANGE_V:g}] V, got {input_range!r}")
        if not 0 < unlock_threshold <= input_range:
            raise UserInputError(
                f"unlock_threshold must be in (0, input_range = {input_range:g}] V, got {unlock_threshold!r}: "
                "a threshold the input cannot reach never sees an unlock"
            )
        if not sample_rate > 0:
            raise UserInputError(f"sample_rate must be positive (Hz), got {sample_rate!r}")
        self.daqmx = daqmx
        self.device = device
        self.channel = _physical_channel(device, channel, "channel")
        self.phi0_per_volt = float(phi0_per_volt)
        self._pickup_radius = float(pickup_radius)
        self.input_range = float(input_range)
        self.unlock_threshold = float(unlock_threshold)
        self.sample_rate = float(sample_rate)
        self.lock_line = None if lock_line is None else _physical_channel(device, lock_line, "lock_line")
        self.line_in_progress = False  # a scanner's hardware-timed line holds the input

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext, daqmx: DAQmx | None = None) -> "NIDAQFluxReadout":
        """Check a station-file block, load nidaqmx (unless `daqmx` is given), register in context.shared."""
        check_known_keys(
            config,
            {
                "device", "channel", "phi0_per_volt", "pickup_radius",
                "input_range", "unlock_threshold", "sample_rate", "lock_line",
            },
        )
        device = _device(config)
        arguments = dict(
            device=device,
            channel=setting(config, "channel"),
            phi0_per_volt=_quantity(config, "phi0_per_volt", "Phi0/V"),
            pickup_radius=setting(config, "pickup_radius", "length"),
            input_range=setting(config, "input_range", "voltage", default=DEFAULT_INPUT_RANGE_V),
            unlock_threshold=setting(config, "unlock_threshold", "voltage", default=DEFAULT_UNLOCK_THRESHOLD_V),
            sample_rate=setting(config, "sample_rate", "frequency", default=DEFAULT_READOUT_SAMPLE_RATE_HZ),
            lock_line=setting(config, "lock_line", default=None),
        )
        if device in context.shared:
            raise UserInputError(f"device {device!r} is already taken by {context.shared[device]!r}")
        readout = cls(daqmx if daqmx is not None else load_nidaqmx(), **arguments)
        context.shared[device] = readout
        return readout

    # --- identity and snapshot

    def identity(self) -> str:
        lock = f", lock line {self.lock_line}" if self.lock_line else ""
        return f"NI-DAQ flux-locked-loop readout on {self.channel} ({self.phi0_per_volt:g} Phi0/V{lock})"

    @property
    def pickup_radius(self) -> float:
        return self._pickup_radius

    def snapshot(self) -> dict:
        return {
            **super().snapshot(),
            "device": self.device,
            "channel": self.channel,
            "phi0_per_volt_Phi0_per_V": self.phi0_per_volt,
            "input_range_V": self.input_range,
            "unlock_threshold_V": self.unlock_threshold,
            "sample_rate_Hz": self.sample_rate,
            "lock_line": self.lock_line,
        }

    # --- readings

    def read_fll_volts(self, integration_time: float, pacer: Pacer) -> np.ndarray:
        """The FLL output (V) sampled at sample_rate for `integration_time` seconds (at least
        two samples), as measured."""
        n_samples = max(MIN_FINITE_SAMPLES, math.ceil(integration_time * self.sample_rate - 1e-9))
        acquisition_time = n_samples / self.sample_rate
        what = f"NI-DAQ {self.channel} flux reading"
        with _open_task(self.daqmx, what) as task:

            def start() -> None:
                task.ai_channels.add_ai_voltage_chan(self.channel, min_val=-self.input_range, max_val=self.input_range)
                task.timing.cfg_samp_clk_timing(
                    self.sample_rate, source="", active_edge=self.daqmx.rising_edge,
                    sample_mode=self.daqmx.finite, samps_per_chan=n_samples,
                )
                task.start()

            guarded(what, start)
            pacer.wait(acquisition_time)
            data = guarded(
                what,
                lambda: task.read(number_of_samples_per_channel=n_samples, timeout=READ_TIMEOUT_MARGIN_S),
            )
        return _samples(data, 1)[0]

    def read_flux(self, integration_time: float, pacer: Pacer) -> float:
        """Mean flux (Phi0) over `integration_time` seconds: mean FLL volts x phi0_per_volt."""
        return float(np.mean(self.read_fll_volts(integration_time, pacer)) * self.phi0_per_volt)

    def read_susceptibility(self, integration_time: float, pacer: Pacer) -> float:
        """Not on this readout: AC susceptometry needs a lock-in."""
        raise InstrumentError(
            f"susceptometry needs the lock-in readout (squid driver sr830_squid); the FLL readout on "
            f"{self.channel} measures DC flux only"
        )

    def is_locked(self) -> bool:
        """The lock line, if configured (high = locked); otherwise locked unless the FLL
        output is railed (|V| at or above unlock_threshold). Without a lock line, while a
        hardware-timed line holds the input (a second AI task would be refused, -50103) the
        line's own samples tell the lock when it ends (`check_line_locked`): True meanwhile."""
        if self.lock_line is None and self.line_in_progress:
            return True
        if self.lock_line is not None:
            what = f"NI-DAQ {self.lock_line} lock line"

            def read_line() -> Any:
                with _open_task(self.daqmx, what) as task:
                    task.di_channels.add_di_chan(self.lock_line)
                    return task.read(number_of_samples_per_channel=1)

            return bool(np.asarray(guarded(what, read_line)).ravel()[0])
        what = f"NI-DAQ {self.channel} lock check"

        def read_once() -> Any:
            with _open_task(self.daqmx, what) as task:
                task.ai_channels.add_ai_voltage_chan(self.channel, min_val=-self.input_range, max_val=self.input_range)
                return task.read(number_of_samples_per_channel=1)

        volts = _samples(guarded(what, read_once), 1)[0]
        return bool(np.all(np.abs(volts) < self.unlock_threshold))

    def check_line_locked(self, volts: np.ndarray) -> None:
        """Without a lock line: refuse a scan line whose FLL samples (V) reached the rail, for
        the SQUID unlocked during it and those samples are no flux."""
        if self.lock_line is not None:
            return
        railed = np.flatnonzero(np.abs(volts) >= self.unlock_threshold)
        if railed.size:
            raise InstrumentError(
                f"NI-DAQ {self.channel}: the FLL output railed (|V| >= {self.unlock_threshold:g} V) at {railed.size} "
                f"of {volts.size} samples during the scan line: the SQUID unlocked; the line is no data")
