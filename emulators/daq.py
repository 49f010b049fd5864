"""NI X-series DAQ card on the twin's world: a stand-in for NI's `nidaqmx` package.

Not VISA, so no TCP server: `WorldDAQ(link, scanner_block, readout_block).module()` looks
like `import nidaqmx` to the drivers' seam (sqm.drivers.nidaq: `DAQmx.from_module`, or
`load_nidaqmx()` with the module installed in sys.modules, as the emulated backend does).
Its tasks have the part of `nidaqmx.Task` the drivers use (channels, sample clock, start
trigger, write, start, read, wait_until_done, stop, close) and behave as the card does:

- AO pins hold their voltage. An on-demand write sets them at once; a finite,
  sample-clocked AO task clocks its written samples out at its rate from its start (or
  from the start of the AI task whose `/<device>/ai/StartTrigger` it waits for) and then
  holds the last one; closing it early leaves the pins where the line had got to. The
  sensor in the world sits where the scanner block's calibrations put the pins, exactly
  as the driver converts them (x = (V - center_volts) * meters_per_volt, z with
  surface_volts as its zero); every position passed is checked for a crash (the world
  records it; the card knows nothing of the sample). A channel's min_val/max_val are
  enforced on every write (DAQmx -200561), and the AO range is +-10 V.
- AI channels read the readout block's FLL output (the world's flux at the sensor, per
  sample, / phi0_per_volt, with the world's noise for a dwell of 1 / rate; railed at
  FLL_RAIL_V while the SQUID is unlocked), the AO pins through the internal channels
  `_aoN_vs_aognd`, and 0 V on anything else, through the card's 16-bit converter: clipped
  at the channel's range (the smallest X-series range holding min_val/max_val) and
  quantised over it. A sample-clocked read waits (on the lab clock) until its samples
  are acquired; one AI task at a time may run on a card (DAQmx -50103, resource reserved),
  as on an X-series card.
- The digital lock line of the readout block reads `world.squid_locked` (high = locked).

Lab time is the link's clock: nothing here sleeps but `link.clock.sleep`.
Not emulated: continuous acquisition, other triggers than the AI start trigger,
sample-rate limits, AI settling and crosstalk, digital outputs.
"""

from __future__ import annotations

import enum
import math
import re
import threading
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from sqm.drivers.base import HardwareContext
from sqm.drivers.nidaq import AO_RANGE_V, SCAN_AXES, DAQmx, NIDAQFluxReadout, PiezoAxis
from sqm.errors import UserInputError

from .faults import WIRE_FAULTS, Fault, FaultPlan
from .link import WorldLink

AI_RANGES_V = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # the X-series (PCIe-6363) input ranges, +-V
ADC_BITS = 16
FLL_RAIL_V = 10.0  # where an unlocked FLL's integrator ends up (at least the block's unlock threshold)
ON_DEMAND_DWELL_S = 1e-4  # s: the FLL output's bandwidth for an on-demand (software-timed) sample
_CHANNEL = {  # the physical channels of an X-series card, by kind
    "ao": re.compile(r"ao[0-3]"),
    "ai": re.compile(r"ai([0-9]|[12][0-9]|3[01])|_ao[0-3]_vs_aognd"),
    "di": re.compile(r"port0/line([0-9]|[12][0-9]|3[01])"),
}


class DaqError(Exception):
    """What NI-DAQmx raises: a message with its (negative) error code."""

    def __init__(self, message: str, error_code: int) -> None:
        super().__init__(f"DAQmx {error_code}: {message}")
        self.error_code = error_code


class AcquisitionType(enum.Enum):  # nidaqmx.constants, NI's values
    FINITE = 10178
    CONTINUOUS = 10123


class Edge(enum.Enum):
    RISING = 10280
    FALLING = 10171


@dataclass
class _Channel:
    kind: str  # ao, ai, di
    physical: str  # 'Dev1/ao0'
    low: float  # V: AO min_val/max_val; AI the converter's range
    high: float


class WorldTask:
    """One NI-DAQmx task on the card (the nidaqmx.Task API the drivers use). Times are lab s."""

    def __init__(self, card: "WorldDAQ", new_task_name: str = "") -> None:
        self.card, self.name = card, new_task_name
        self.channels: list[_Channel] = []
        self.rate: float | None = None  # Hz, None: on demand
        self.samples = 0  # per channel, of a sample-clocked task
        self.trigger: str | None = None  # the start trigger it waits for
        self.buffer: np.ndarray | None = None  # V, (channels, samples) written to a sample-clocked AO task
        self.t0: float | None = None  # lab s its sample clock started
        self.before: dict[str, float] = {}  # AO: the pins when its clock started
        self.running = self.closed = False
        self.checked = -1  # AO: the last sample checked for a crash
        self.read_index = 0  # AI: samples read so far
        self.ao_channels = types.SimpleNamespace(add_ao_voltage_chan=self._add_ao)
        self.ai_channels = types.SimpleNamespace(add_ai_voltage_chan=self._add_ai)
        self.di_channels = types.SimpleNamespace(add_di_chan=self._add_di)
        self.timing = types.SimpleNamespace(cfg_samp_clk_timing=self._cfg_timing)
        self.triggers = types.SimpleNamespace(start_trigger=types.SimpleNamespace(
            cfg_dig_edge_start_trig=self._cfg_trigger))

    def __enter__(self) -> "WorldTask":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # Configuration -----------------------------------------------------------------------
    @property
    def kind(self) -> str | None:
        return self.channels[0].kind if self.channels else None

    @property
    def device(self) -> str:
        return self.channels[0].physical.split("/")[0]

    def _add(self, kind: str, physical: str, low: float, high: float) -> None:
        self._check_open()
        if self.kind not in (None, kind):
            raise DaqError(f"a task holds channels of one type: {physical} is not {self.kind}", -200559)
        device, _, local = str(physical).lstrip("/").partition("/")
        if device not in self.card.devices:
            raise DaqError(f"device identifier is invalid: {device!r} (devices: {', '.join(self.card.devices)})",
                           -200220)
        if not _CHANNEL[kind].fullmatch(local):
            raise DaqError(f"physical channel {physical!r} does not exist on this device", -200170)
        self.channels.append(_Channel(kind, f"{device}/{local}", low, high))

    def _add_ao(self, physical_channel: str, name_to_assign_to_channel: str = "", min_val: float = -10.0,
                max_val: float = 10.0, **_: Any) -> None:
        if not -AO_RANGE_V <= min_val < max_val <= AO_RANGE_V:
            raise DaqError(f"AO range [{min_val:g}, {max_val:g}] V is outside the card's +-{AO_RANGE_V:g} V", -200077)
        self._add("ao", physical_channel, float(min_val), float(max_val))

    def _add_ai(self, physical_channel: str, name_to_assign_to_channel: str = "", terminal_config: Any = None,
                min_val: float = -5.0, max_val: float = 5.0, **_: Any) -> None:
        needed = max(abs(min_val), abs(max_val))
        span = next((span for span in AI_RANGES_V if needed <= span), None)
        if span is None or not min_val < max_val:
            raise DaqError(f"AI range [{min_val:g}, {max_val:g}] V: the card reads at most +-10 V", -200077)
        self._add("ai", physical_channel, -span, span)

    def _add_di(self, lines: str, name_to_assign_to_lines: str = "", line_grouping: Any = None) -> None:
        self._add("di", lines, 0.0, 1.0)

    def _cfg_timing(self, rate: float, source: str = "", active_edge: Any = Edge.RISING,
                    sample_mode: Any = AcquisitionType.FINITE, samps_per_chan: int = 1000) -> None:
        self._check_open()
        if sample_mode != AcquisitionType.FINITE:
            raise DaqError(f"sample mode {sample_mode} is not emulated (finite only)", -200077)
        if not (rate > 0 and samps_per_chan >= 2):
            raise DaqError(f"a finite acquisition needs a positive rate and 2 samples or more, got {rate!r} Hz, "
                           f"{samps_per_chan!r}", -200077)
        self.rate, self.samples = float(rate), int(samps_per_chan)

    def _cfg_trigger(self, trigger_source: str, trigger_edge: Any = Edge.RISING) -> None:
        self._check_open()
        self.trigger = trigger_source

    def _check_open(self) -> None:
        if self.closed:
            raise DaqError("the task has been cleared", -200088)

    # The sample clock ----------------------------------------------------------------------
    @property
    def end(self) -> float:
        """Lab s when its finite sample clock has ticked its last (inf before it starts)."""
        return math.inf if self.t0 is None else self.t0 + self.samples / self.rate

    def index_at(self, times: np.ndarray) -> np.ndarray:
        """The sample being output or acquired at each lab time (-1 before the start, the last after the end)."""
        ticks = np.floor((np.asarray(times, dtype=float) - self.t0) * self.rate + 1e-9).astype(int)
        return np.where(ticks < 0, -1, np.minimum(ticks, self.samples - 1))

    # Operations -----------------------------------------------------------------------------
    def write(self, data: Any, auto_start: bool = False, timeout: float = 10.0) -> int:
        """Volts per AO channel (a number or a list each): on demand, the pins take the last at once;
        sample-clocked, the buffer of the generation. Samples per channel written."""
        with self.card.lock:
            self._check_open()
            ao = [channel for channel in self.channels if channel.kind == "ao"]
            if not ao:
                raise DaqError("write: the task has no output channels", -200477)
            array = np.asarray(data, dtype=float).reshape(len(ao), -1)
            for channel, values in zip(ao, array):
                if np.any(values < channel.low) or np.any(values > channel.high):
                    raise DaqError(f"attempted writing analog data that is too large or too small for "
                                   f"{channel.physical} [{channel.low:g}, {channel.high:g}] V", -200561)
            self.card.writes += 1
            if self.rate is not None:
                self.buffer = array
                if auto_start:
                    self._start()
                return array.shape[1]
            if not self.running:  # on demand: started for the write, stopped after
                self.card.reserve(self, hold=False)
            self.card.set_pins({channel.physical: float(values[-1]) for channel, values in zip(ao, array)})
            return array.shape[1]

    def start(self) -> None:
        """Start its sample clock now, or arm it for its start trigger."""
        with self.card.lock:
            self._check_open()
            self._start()

    def _start(self) -> None:
        if self.running:
            return
        if self.kind == "ao" and self.rate is not None and self.buffer is None:
            raise DaqError("generation cannot be started because the output buffer is empty", -200462)
        self.card.reserve(self, hold=True)
        self.running = True
        if self.rate is None or self.trigger is not None:
            return  # on demand, or armed: its clock starts on the trigger
        self.card.settle()  # the pins up to now: where the generation starts from
        self.card.start_clock(self, self.card.link.clock.now())

    def read(self, number_of_samples_per_channel: Any = None, timeout: float = 10.0) -> Any:
        """Samples per channel (V, or the lines' levels): on demand, now; sample-clocked, the next ones,
        waiting until they are acquired (DAQmx -200284 after `timeout` lab s)."""
        single = number_of_samples_per_channel is None  # nidaqmx: one sample, a scalar per channel
        n = 1 if single else int(number_of_samples_per_channel)
        with self.card.lock:
            self._check_open()
            if self.kind not in ("ai", "di"):
                raise DaqError("read: the task has no input channels", -200478)
            if self.rate is None:  # on demand: now
                if not self.running:  # started for the read, stopped after
                    self.card.reserve(self, hold=False)
                return self._shaped(self.card.acquire(self, np.full(n, self.card.link.clock.now())), single)
            if self.read_index + n > self.samples:
                raise DaqError(f"read of {n} samples beyond the {self.samples} of the finite acquisition", -200278)
            self._start()
            if self.t0 is None:  # armed, and its trigger never came
                self.card.wait_until(math.inf, timeout, DaqError("some or all of the samples requested have not "
                                                                 "yet been acquired", -200284))
            times = self.t0 + (self.read_index + np.arange(n)) / self.rate
            ready = times[-1] + 1.0 / self.rate  # lab s: its last sample acquired
        self.card.wait_until(ready, timeout, DaqError("some or all of the samples requested have not yet been "
                                                      "acquired", -200284))
        with self.card.lock:
            self._check_open()
            self.read_index += n
            return self._shaped(self.card.acquire(self, times), single)

    def _shaped(self, data: np.ndarray, single: bool) -> Any:
        """(channels, samples) as nidaqmx returns it: a scalar or list per channel for one sample
        asked without a count, else a list (one channel) or a list of lists."""
        values = data.astype(bool) if self.kind == "di" else data
        if single:
            values = values[:, 0]
            return values.tolist()[0] if len(values) == 1 else values.tolist()
        return values[0].tolist() if len(values) == 1 else values.tolist()

    def wait_until_done(self, timeout: float = 10.0) -> None:
        """Return once its sample clock has ticked its last (DAQmx -200560 after `timeout` lab s)."""
        with self.card.lock:
            self._check_open()
            if self.rate is None or not self.running:
                return
            end = self.end
        self.card.wait_until(end, timeout, DaqError("wait until done did not indicate that the task was done "
                                                    "within the specified timeout", -200560))
        with self.card.lock:
            self.card.settle()

    def stop(self) -> None:
        """Stop it (a generation stops where it has got to) and free what it holds of the card."""
        with self.card.lock:
            if self.running:
                self.card.settle()  # a generation stopped early leaves the pins where it had got to
                self.card.release(self)
                self.running = False

    def close(self) -> None:
        self.stop()
        self.closed = True


class WorldDAQ:
    """An NI X-series card on `link`'s world, wired as a station's blocks say: the scanner's
    piezo amplifiers on AO (`scanner_block`, an `nidaq_scanner` block, or None) and the
    flux-locked loop's output (and lock line) on AI (`readout_block`, an `nidaq_fll` block,
    or None). Pins in V, positions in m, lab time in s."""

    def __init__(self, link: WorldLink, scanner_block: dict | None, readout_block: dict | None) -> None:
        self.link = link
        self.lock = threading.RLock()
        self.running: list[WorldTask] = []  # started and not stopped: they hold the card's AO or AI
        self.tasks = 0  # tasks created, for tests
        self.writes = 0  # AO writes the card took (none refused), for tests
        self.faults = FaultPlan()  # squid_unlock, of the FLL readout's role
        self.axes: dict[str, PiezoAxis] = {}
        self.devices: list[str] = []
        if scanner_block is not None:
            device = str(scanner_block["device"]).strip()
            self.axes = {name: PiezoAxis.from_config(device, name, scanner_block["axes"][name]) for name in SCAN_AXES}
            self.devices.append(device)
        self.fll: NIDAQFluxReadout | None = None
        if readout_block is not None:  # read exactly as its driver reads it (nothing is opened)
            context, daqmx = HardwareContext(visa_library="", clock=link.clock), DAQmx.from_module(self.module())
            self.fll = NIDAQFluxReadout.from_config(dict(readout_block), context, daqmx=daqmx)
            if self.fll.device not in self.devices:
                self.devices.append(self.fll.device)
        self.rail = max(FLL_RAIL_V, self.fll.unlock_threshold) if self.fll else FLL_RAIL_V
        self.pins = {f"{device}/ao{number}": 0.0 for device in self.devices for number in range(4)}  # V
        with link.world() as world:  # the outputs start where the world's sensor is, within the AO range
            for name, axis in self.axes.items():
                volts = float(axis.volts(world.position[SCAN_AXES.index(name)]))
                self.pins[axis.channel] = min(max(volts, -AO_RANGE_V), AO_RANGE_V)
            self._place_sensor(world, self.pins)

    def module(self) -> types.ModuleType:
        """What `import nidaqmx` gives the drivers: Task, constants (and errors.DaqError)."""
        module = types.ModuleType("nidaqmx", "NI-DAQmx, emulated on the twin's world (sqm.emulators.daq)")
        module.constants = types.ModuleType("nidaqmx.constants")
        module.constants.AcquisitionType, module.constants.Edge = AcquisitionType, Edge
        module.errors = types.SimpleNamespace(DaqError=DaqError)
        module.Task = self.new_task
        return module

    def new_task(self, new_task_name: str = "") -> WorldTask:
        with self.lock:
            self.tasks += 1
            return WorldTask(self, new_task_name)

    # Faults ------------------------------------------------------------------------------------
    def add_fault(self, driver: str, fault: Fault, where: str) -> None:
        """A fault of the role `driver` fills (UserInputError naming `where` if the card cannot play it)."""
        check_daq_fault(driver, fault.kind, where)
        with self.lock:
            self.faults.add(fault)

    def apply_due_faults(self) -> None:
        """Start and end the faults due at the present lab time (before each acquisition, and by the
        station's ticker): the only one, squid_unlock, unlocks the loop while it lasts."""
        with self.lock:
            started, ended = self.faults.update(self.link.clock.now())
            for fault in started + ended:
                with self.link.world() as world:
                    world.squid_locked = fault in ended

    # Resources and time ---------------------------------------------------------------------
    def reserve(self, task: WorldTask, hold: bool) -> None:
        """`task` uses the card: one task at a time may run its AO or its AI (DAQmx -50103; the static
        digital lines are free). `hold`: it runs until stopped; else for one on-demand write or read."""
        if task.kind != "di" and any(other.kind == task.kind and other.device == task.device
                                     for other in self.running if other is not task):
            raise DaqError(f"the specified resource is reserved: another {task.kind.upper()} task runs on "
                           f"{task.device}", -50103)
        if hold:
            self.running.append(task)

    def release(self, task: WorldTask) -> None:
        if task in self.running:
            self.running.remove(task)

    def start_clock(self, task: WorldTask, t0: float) -> None:
        """`task`'s sample clock starts at lab `t0`; an AI task's start triggers the AO tasks waiting for it."""
        task.t0 = t0
        if task.kind == "ao":
            task.before = {channel.physical: self.pins[channel.physical] for channel in task.channels}
            return
        trigger = f"/{task.device}/ai/StartTrigger"
        for other in self.running:
            if other.kind == "ao" and other.t0 is None and other.trigger == trigger:
                self.start_clock(other, t0)

    def wait_until(self, when: float, timeout: float, late: DaqError) -> None:
        """Wait (lab time) until `when`; `late` after `timeout` lab s if that comes first."""
        remaining = when - self.link.clock.now()
        if remaining > timeout:
            self.link.clock.sleep(timeout)
            raise late
        self.link.clock.sleep(remaining)

    # The outputs -------------------------------------------------------------------------------
    def _generations(self) -> list[WorldTask]:
        return [task for task in self.running if task.kind == "ao" and task.t0 is not None]

    def settle(self) -> None:
        """The pins and the sensor at the present lab time: running generations have clocked out
        their samples up to now (each checked for a crash)."""
        now = self.link.clock.now()
        with self.link.world() as world:
            for task in self._generations():
                index = int(task.index_at(np.array([now]))[0])
                if index <= task.checked:
                    continue
                passed = {channel.physical: task.buffer[row, task.checked + 1:index + 1]
                          for row, channel in enumerate(task.channels)}
                self._check_path(world, passed)
                task.checked = index
                self.pins.update({channel.physical: float(task.buffer[row, index])
                                  for row, channel in enumerate(task.channels)})
            self._place_sensor(world, self.pins)

    def set_pins(self, volts: dict[str, float]) -> None:
        """An on-demand write: the pins (V) change now, the sensor follows."""
        self.settle()
        self.pins.update(volts)
        with self.link.world() as world:
            self._place_sensor(world, self.pins)
            world.check_crash()

    def pins_at(self, times: np.ndarray) -> dict[str, np.ndarray]:
        """The AO pins (V) at each lab time of `times` (the past and present of the running generations)."""
        volts = {channel: np.full(len(times), value) for channel, value in self.pins.items()}
        for task in self._generations():
            index = task.index_at(times)
            for row, channel in enumerate(task.channels):
                volts[channel.physical] = np.where(index >= 0, task.buffer[row, np.maximum(index, 0)],
                                                   task.before[channel.physical])
        return volts

    def _positions(self, world, volts: dict[str, Any]) -> list[Any]:
        """x, y, z (m) of the sensor for pin voltages `volts` (the world's, for axes not on the card)."""
        return [self.axes[name].meters(volts[self.axes[name].channel]) if name in self.axes else world.position[index]
                for index, name in enumerate(SCAN_AXES)]

    def _place_sensor(self, world, volts: dict[str, float]) -> None:
        world.position[:] = [float(value) for value in self._positions(world, volts)]

    def _check_path(self, world, passed: dict[str, np.ndarray]) -> None:
        """A crash anywhere along samples the sensor passed (its deepest point) is the world's to record."""
        count = len(next(iter(passed.values())))
        volts = {channel: np.full(count, value) for channel, value in self.pins.items()} | passed
        xs, ys, zs = (np.broadcast_to(value, (count,)) for value in self._positions(world, volts))
        deepest = int(np.argmin(zs - world.contact.surface_z(xs, ys)))
        world.contact.crash_at(float(xs[deepest]), float(ys[deepest]), float(zs[deepest]))

    # The inputs -----------------------------------------------------------------------------------
    def acquire(self, task: WorldTask, times: np.ndarray) -> np.ndarray:
        """What `task`'s channels read at lab `times` (channels, samples): V through the converter,
        or the DI lines' levels."""
        dwell = ON_DEMAND_DWELL_S if task.rate is None else 1.0 / task.rate
        self.apply_due_faults()
        self.settle()
        volts = self.pins_at(times)
        rows = []
        with self.link.world() as world:
            for channel in task.channels:
                if channel.kind == "di":
                    locked = self.fll is not None and channel.physical == self.fll.lock_line and world.squid_locked
                    rows.append(np.full(len(times), 1.0 if locked else 0.0))
                    continue
                device, _, local = channel.physical.partition("/")
                if local.endswith("_vs_aognd"):
                    value = volts[f"{device}/{local[1:-len('_vs_aognd')]}"]
                elif self.fll is not None and channel.physical == self.fll.channel:
                    value = self._fll_volts(world, volts, dwell)
                else:
                    value = np.zeros(len(times))  # nothing wired
                rows.append(self._converted(value, channel.high))
        return np.array(rows)

    def _fll_volts(self, world, volts: dict[str, np.ndarray], dwell: float) -> np.ndarray:
        """The FLL output (V) with the sensor where the pins put it at each sample."""
        count = len(next(iter(volts.values())))
        if not world.squid_locked:
            return np.full(count, self.rail)
        xs, ys, zs = (np.broadcast_to(value, (count,)) for value in self._positions(world, volts))
        return world.sensor_reading(xs, ys, "flux", dwell, zs) / self.fll.phi0_per_volt

    @staticmethod
    def _converted(volts: np.ndarray, span: float) -> np.ndarray:
        """`volts` as the 16-bit converter reads them on its +-`span` V range: clipped, quantised."""
        step = 2 * span / 2**ADC_BITS
        return np.round(np.clip(volts, -span, span) / step) * step


# --- faults: the card has no wire


DAQ_INSTRUMENT_FAULTS = {"nidaq_scanner": (), "nidaq_fll": ("squid_unlock",)}  # driver -> faults it plays


def check_daq_fault(driver: str, kind: str, where: str) -> None:
    """UserInputError (one line, naming `where`) unless the card can play `kind` for `driver`'s role."""
    if kind in WIRE_FAULTS:
        raise UserInputError(f"{where}: wire faults ({kind!r}) do not apply to the NI-DAQ ({driver}), which has no "
                             f"wire (it plays: {', '.join(DAQ_INSTRUMENT_FAULTS[driver]) or 'no faults'})")
    if kind not in DAQ_INSTRUMENT_FAULTS[driver]:
        raise UserInputError(f"{where}: the emulated NI-DAQ cannot play {kind!r} for {driver} (it plays: "
                             f"{', '.join(DAQ_INSTRUMENT_FAULTS[driver]) or 'no faults'})")
