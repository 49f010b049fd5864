"""NI-DAQ scanner and FLL readout against a fake of the nidaqmx task API.

The fake (`FakeDAQ`) stands in at the seam (`DAQmx.from_module`): it records every
task, channel, timing, trigger, write, start, read and close, keeps the analog
outputs' voltages (read back through the `_aoN_vs_aognd` internal channels, as on an
X-series card) and refuses writes outside a channel's min/max like NI-DAQmx does.
nidaqmx itself is never imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from sqm.clock import SimulatedClock
from sqm.drivers import backend
from sqm.drivers.base import HardwareContext
from sqm.drivers.nidaq import DAQmx, NIDAQFluxReadout, NIDAQScanner, load_nidaqmx
from sqm.errors import AbortRequested, InstrumentError, LimitError, UserInputError
from sqm.limits import StationLimits
from sqm.pacing import CleanupPacer
from sqm.roles import ScanLine, SquidReadout
from sqm.surface import SurfacePlane

REPO = Path(__file__).resolve().parents[2]
UM = 1e-6
FINITE, CONTINUOUS, RISING = "AcquisitionType.FINITE", "AcquisitionType.CONTINUOUS", "Edge.RISING"


# --- the fake nidaqmx


class FakeTask:
    """One task with the parts of nidaqmx.Task's API the adapters use; records everything."""

    def __init__(self, daq: "FakeDAQ", number: int) -> None:
        self.daq, self.number = daq, number
        self.channels: list[dict] = []  # {"kind", "physical", "min", "max"}
        self.timing_config: dict | None = None
        self.trigger: dict | None = None
        self.writes: list[tuple[np.ndarray, bool]] = []
        self.reads: list[dict] = []
        self.started = self.closed = False
        self.ao_channels = SimpleNamespace(add_ao_voltage_chan=self._add_ao)
        self.ai_channels = SimpleNamespace(add_ai_voltage_chan=self._add_ai)
        self.di_channels = SimpleNamespace(add_di_chan=self._add_di)
        self.timing = SimpleNamespace(cfg_samp_clk_timing=self._cfg_timing)
        self.triggers = SimpleNamespace(start_trigger=SimpleNamespace(cfg_dig_edge_start_trig=self._cfg_trigger))

    def _log(self, event: str) -> None:
        self.daq.events.append((event, self.number))

    def _add_ao(self, physical_channel, name_to_assign_to_channel="", min_val=-10.0, max_val=10.0, **_):
        self.channels.append({"kind": "ao", "physical": physical_channel, "min": min_val, "max": max_val})

    def _add_ai(self, physical_channel, name_to_assign_to_channel="", terminal_config=None, min_val=-5.0, max_val=5.0,
                **_):
        self.channels.append({"kind": "ai", "physical": physical_channel, "min": min_val, "max": max_val})

    def _add_di(self, lines, name_to_assign_to_lines="", line_grouping=None):
        self.channels.append({"kind": "di", "physical": lines})

    def _cfg_timing(self, rate, source="", active_edge=RISING, sample_mode=FINITE, samps_per_chan=1000):
        self.timing_config = dict(rate=rate, source=source, active_edge=active_edge, sample_mode=sample_mode,
                                  samps_per_chan=samps_per_chan)

    def _cfg_trigger(self, trigger_source, trigger_edge=RISING):
        self.trigger = dict(trigger_source=trigger_source, trigger_edge=trigger_edge)

    def kinds(self) -> set[str]:
        return {channel["kind"] for channel in self.channels}

    def physical(self) -> list[str]:
        return [channel["physical"] for channel in self.channels]

    def write(self, data, auto_start=False, timeout=10.0):
        assert not self.closed
        ao = [channel for channel in self.channels if channel["kind"] == "ao"]
        array = np.asarray(data, dtype=float).reshape(len(ao), -1)
        for channel, values in zip(ao, array):
            if np.any(values < channel["min"]) or np.any(values > channel["max"]):
                raise RuntimeError(f"DAQmx -200561: value outside {channel['physical']} range")
        self.writes.append((array, auto_start))
        if self.daq.fail_write_after is not None and len(self.writes) > self.daq.fail_write_after:
            raise RuntimeError("DAQmx -200018: device removed")
        if self.timing_config is None and auto_start:  # on-demand: the pins follow at once
            for channel, values in zip(ao, array):
                self.daq.outputs[channel["physical"]] = float(values[-1])
        return array.shape[1]

    def start(self):
        assert not self.closed
        self.started = True
        self._log("start")

    def read(self, number_of_samples_per_channel=1, timeout=10.0):
        assert not self.closed
        self.reads.append(dict(n=number_of_samples_per_channel, timeout=timeout))
        self._log("read")
        n = number_of_samples_per_channel
        per_channel = []
        for channel in self.channels:
            name = channel["physical"]
            if channel["kind"] == "di":
                per_channel.append([self.daq.lines[name]] * n)
            elif name.endswith("_vs_aognd"):  # X-series internal channel: the AO pin's voltage
                device, local = name.split("/")
                per_channel.append([self.daq.outputs[f"{device}/{local[1:-len('_vs_aognd')]}"]] * n)
            else:
                source = self.daq.inputs[name]
                per_channel.append(list(np.asarray(source(n), dtype=float)))
        return per_channel[0] if len(per_channel) == 1 else per_channel

    def wait_until_done(self, timeout=10.0):
        self._log("wait_until_done")
        if self.trigger is not None:  # a finished finite AO task holds its last sample
            for channel, values in zip(self.channels, self.writes[-1][0]):
                self.daq.outputs[channel["physical"]] = float(values[-1])

    def close(self):
        self.closed = True
        self._log("close")


class FakeDAQ:
    """A fake NI-DAQmx installation with one device, Dev1."""

    def __init__(self) -> None:
        self.tasks: list[FakeTask] = []
        self.events: list[tuple[str, int]] = []
        self.outputs = {"Dev1/ao0": 0.0, "Dev1/ao1": 0.0, "Dev1/ao2": 0.0}  # V at the AO pins
        self.inputs = {"Dev1/ai0": lambda n: np.zeros(n), "Dev1/ai3": lambda n: np.zeros(n)}
        self.lines = {"Dev1/port0/line0": True}
        self.fail_write_after: int | None = None

    def Task(self, new_task_name=""):  # noqa: N802 - nidaqmx's name
        task = FakeTask(self, len(self.tasks))
        self.tasks.append(task)
        return task

    def module(self) -> SimpleNamespace:
        """Looks like `import nidaqmx` to the seam."""
        constants = SimpleNamespace(
            AcquisitionType=SimpleNamespace(FINITE=FINITE, CONTINUOUS=CONTINUOUS),
            Edge=SimpleNamespace(RISING=RISING, FALLING="Edge.FALLING"),
        )
        return SimpleNamespace(Task=self.Task, constants=constants)

    @property
    def daqmx(self) -> DAQmx:
        return DAQmx.from_module(self.module())

    def timed_tasks(self) -> list[FakeTask]:
        return [task for task in self.tasks if task.timing_config is not None]


# --- station pieces

STATION_LIMITS = StationLimits.from_mapping(
    yaml.safe_load((REPO / "configs" / "stations" / "sim.yaml").read_text())["limits"]
)


def scanner_block(cold: bool = True, **overrides) -> dict:
    """x: 6 um/V; y: 5 um/V centred at 0.5 V; z: 1.2 um/V with the surface at -9 V."""
    block = {
        "driver": "nidaq_scanner",
        "device": "Dev1",
        "cold": cold,
        "piezo_speed": "5 um/s",
        "axes": {
            "x": {"channel": "ao0", "meters_per_volt": "6 um/V", "warm_volts": [-2, 2], "cold_volts": [-10, 10]},
            "y": {"channel": "Dev1/ao1", "meters_per_volt": "5 um/V", "center_volts": "500 mV",
                  "warm_volts": ["-2 V", "2 V"], "cold_volts": [-10, 10]},
            "z": {"channel": "ao2", "meters_per_volt": "1.2 um/V", "surface_volts": -9,
                  "warm_volts": [-2, 2], "cold_volts": [-10, 10]},
        },
    }
    block.update(overrides)
    return block


READOUT_BLOCK = {"driver": "nidaq_fll", "device": "Dev1", "channel": "ai0", "phi0_per_volt": "0.25 Phi0/V",
                 "pickup_radius": "0.1 um"}


def x_volts(x):
    return np.asarray(x) / 6e-6


def y_volts(y):
    return 0.5 + np.asarray(y) / 5e-6


def z_volts(z):
    return -9 + np.asarray(z) / 1.2e-6


@pytest.fixture
def daq() -> FakeDAQ:
    return FakeDAQ()


@pytest.fixture
def context() -> HardwareContext:
    return HardwareContext(visa_library="", clock=SimulatedClock())


@pytest.fixture
def pacer(context) -> CleanupPacer:
    return CleanupPacer(context.clock)


def make_scanner(daq, context, cold=True, **overrides) -> NIDAQScanner:
    scanner = NIDAQScanner.from_config(scanner_block(cold, **overrides), context, daqmx=daq.daqmx)
    scanner.attach_limits(STATION_LIMITS)
    return scanner


def make_readout(daq, context, **overrides) -> NIDAQFluxReadout:
    readout = NIDAQFluxReadout.from_config({**READOUT_BLOCK, **overrides}, context, daqmx=daq.daqmx)
    readout.attach_limits(STATION_LIMITS)
    return readout


@pytest.fixture
def scanner(daq, context) -> NIDAQScanner:
    return make_scanner(daq, context)


@pytest.fixture
def readout(daq, context) -> NIDAQFluxReadout:
    return make_readout(daq, context)


class StubLockin(SquidReadout):
    """A readout that is not on the DAQ (a lock-in): records each point read."""

    def __init__(self, scanner: NIDAQScanner) -> None:
        super().__init__()
        self.scanner, self.reads = scanner, []

    @property
    def pickup_radius(self) -> float:
        return 0.1 * UM

    def read_flux(self, integration_time, pacer):
        return self._read("flux", integration_time, pacer)

    def read_susceptibility(self, integration_time, pacer):
        return self._read("susceptibility", integration_time, pacer)

    def _read(self, signal, integration_time, pacer):
        pacer.wait(integration_time)
        x, y, z = self.scanner.position()
        self.reads.append((signal, integration_time, x, y, z))
        return x / UM  # a value that tells where it was read

    def is_locked(self):
        return True


# --- the seam


def test_importing_the_module_does_not_import_nidaqmx():
    script = textwrap.dedent(
        """
        import sys

        class RefuseNidaqmx:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "nidaqmx":
                    raise AssertionError("nidaqmx was imported")
                return None

        sys.meta_path.insert(0, RefuseNidaqmx())
        import sqm.drivers.nidaq
        import sqm.drivers.backend
        assert "nidaqmx" not in sys.modules
        print("not imported")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "not imported"


def test_a_missing_nidaqmx_is_a_clear_instrument_error(monkeypatch, context):
    monkeypatch.setitem(sys.modules, "nidaqmx", None)  # what an absent package looks like to import
    with pytest.raises(InstrumentError, match="the NI-DAQ backend needs NI's nidaqmx package and driver"):
        load_nidaqmx()
    with pytest.raises(InstrumentError, match="nidaqmx package and driver"):
        NIDAQScanner.from_config(scanner_block(), context)
    with pytest.raises(InstrumentError, match="nidaqmx package and driver"):
        NIDAQFluxReadout.from_config(dict(READOUT_BLOCK), context)
    assert context.shared == {}  # a readout that could not be built is not registered


def test_load_nidaqmx_uses_the_installed_module(monkeypatch, daq):
    module = daq.module()
    monkeypatch.setitem(sys.modules, "nidaqmx", module)
    monkeypatch.setitem(sys.modules, "nidaqmx.constants", module.constants)
    loaded = load_nidaqmx()
    assert (loaded.finite, loaded.rising_edge) == (FINITE, RISING)
    loaded.new_task()
    assert len(daq.tasks) == 1


def test_the_registry_names_these_classes():
    assert backend._adapter_class("nidaq_scanner") is NIDAQScanner
    assert backend._adapter_class("nidaq_fll") is NIDAQFluxReadout


# --- building the scanner


def test_building_measures_the_outputs_through_the_internal_channels(daq, context):
    daq.outputs.update({"Dev1/ao0": 1.0, "Dev1/ao1": -0.5, "Dev1/ao2": 0.0})
    scanner = make_scanner(daq, context)
    (readback,) = daq.tasks
    assert readback.physical() == ["Dev1/_ao0_vs_aognd", "Dev1/_ao1_vs_aognd", "Dev1/_ao2_vs_aognd"]
    assert readback.kinds() == {"ai"} and readback.writes == [] and readback.closed
    x, y, z = scanner.position()
    assert (x, y, z) == pytest.approx((6 * UM, -5 * UM, 9 * 1.2 * UM), rel=1e-12)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.update(colour="blue"), "unknown setting"),
        (lambda b: b.pop("cold"), "missing setting 'cold'"),
        (lambda b: b.update(cold="yes"), "cold must be true or false"),
        (lambda b: b["axes"].pop("z"), r"axes\.z is missing"),
        (lambda b: b["axes"]["z"].pop("surface_volts"), r"axes\.z: missing setting 'surface_volts'"),
        (lambda b: b["axes"]["x"].update(channel="Dev2/ao0"), "not on device 'Dev1'"),
        (lambda b: b["axes"]["y"].update(channel="ao0"), "its own AO channel"),
        (lambda b: b["axes"]["x"].update(cold_volts=[-12, 12]), "inside the AO range"),
        (lambda b: b["axes"]["x"].update(warm_volts=[2, -2]), "minimum below its maximum"),
        (lambda b: b["axes"]["x"].update(meters_per_volt="6 um"), "quantity in m/V"),
        (lambda b: b["axes"]["x"].update(meters_per_volt=0), "non-zero calibration"),
        (lambda b: b["axes"]["x"].update(meters_per_volt="1,5 um/V"), "decimals with a point, not a comma"),
        (lambda b: b.update(piezo_speed="-1 um/s"), "piezo_speed must be positive"),
        (lambda b: b.update(sample_rate_limits=["1 kHz", "10 Hz"]), "minimum below its maximum"),
    ],
)
def test_a_bad_scanner_block_is_refused_before_the_device_is_touched(daq, context, change, message):
    block = scanner_block()
    change(block)
    with pytest.raises(UserInputError, match=message):
        NIDAQScanner.from_config(block, context, daqmx=daq.daqmx)
    assert daq.tasks == []


# --- on-demand moves


@pytest.mark.parametrize("cold, limits", [(True, (-10, 10)), (False, (-2, 2))], ids=["cold", "warm"])
def test_move_channels_carry_the_active_limits(daq, context, pacer, cold, limits):
    scanner = make_scanner(daq, context, cold=cold)
    scanner.move_to(3 * UM, 2 * UM, pacer)
    move = daq.tasks[-1]
    assert move.channels == [
        {"kind": "ao", "physical": "Dev1/ao0", "min": limits[0], "max": limits[1]},
        {"kind": "ao", "physical": "Dev1/ao1", "min": limits[0], "max": limits[1]},
    ]
    assert move.timing_config is None and move.trigger is None  # on-demand
    assert move.closed


def test_move_steps_from_the_present_output_at_the_piezo_speed(daq, context, scanner, pacer):
    start = context.clock.now()
    scanner.move_to(30 * UM, 0.0, pacer)
    written = np.array([data[:, 0] for data, _ in daq.tasks[-1].writes])
    assert all(auto_start for _, auto_start in daq.tasks[-1].writes)
    path = np.vstack([[0.0, 0.0], written])  # both outputs started at 0 V
    assert np.abs(np.diff(path, axis=0)).max() <= 0.02 + 1e-12
    assert written[-1] == pytest.approx([x_volts(30 * UM), y_volts(0.0)], abs=1e-12)
    assert len(written) == 250  # 5 V in steps of at most 20 mV
    # from (0, -2.5 um) to (30 um, 0) at 5 um/s
    assert context.clock.now() - start == pytest.approx(np.hypot(30, 2.5) / 5, rel=1e-9)
    assert scanner.position()[:2] == pytest.approx((30 * UM, 0.0), abs=1e-15)
    assert (daq.outputs["Dev1/ao0"], daq.outputs["Dev1/ao1"]) == pytest.approx(tuple(written[-1]))


def test_approach_and_retract_move_z_only(daq, context, scanner, pacer):
    scanner.approach(2 * UM, pacer)
    approach = daq.tasks[-1]
    assert approach.physical() == ["Dev1/ao2"]
    assert approach.writes[-1][0][0, 0] == pytest.approx(z_volts(2 * UM), abs=1e-12)
    assert scanner.position()[2] == pytest.approx(2 * UM, abs=1e-15)
    scanner.retract(pacer)
    assert daq.outputs["Dev1/ao2"] == pytest.approx(z_volts(10 * UM), abs=1e-12)  # top of the station's z range
    assert scanner.position()[2] == pytest.approx(10 * UM, abs=1e-15)


def z_scanner(daq, context, cold=False, **z_changes) -> NIDAQScanner:
    """The test scanner with its z axis changed (e.g. meters_per_volt, surface_volts)."""
    block = scanner_block(cold)
    block["axes"]["z"].update(z_changes)
    scanner = NIDAQScanner.from_config(block, context, daqmx=daq.daqmx)
    scanner.attach_limits(STATION_LIMITS)
    return scanner


def z_writes(daq) -> np.ndarray:
    """Every voltage written to the z output (ao2), in order."""
    return np.array(
        [data[task.physical().index("Dev1/ao2")] for task in daq.tasks if "Dev1/ao2" in task.physical()
         for data, _ in task.writes]
    ).ravel()


@pytest.mark.parametrize(
    "cold, z_changes, height_um",
    [
        (True, {}, 22.8),  # 10 V, 19 V above the surface at -9 V: beyond the top of the station's z range
        (False, {}, 13.2),  # 2 V
        (False, {"surface_volts": -1, "meters_per_volt": "2 um/V"}, 6.0),  # 2 V
        (False, {"surface_volts": 1, "meters_per_volt": "-2 um/V"}, 6.0),  # -2 V: more volts bring it down
        (True, {"surface_volts": 1, "meters_per_volt": "-2 um/V"}, 22.0),  # -10 V
    ],
    ids=["cold", "warm", "warm-short", "warm-reversed", "cold-reversed"],
)
def test_the_highest_reachable_z_is_the_height_at_the_withdrawn_end_of_the_active_limits(
    daq, context, cold, z_changes, height_um
):
    scanner = z_scanner(daq, context, cold, **z_changes)
    assert scanner.highest_reachable_z() == pytest.approx(height_um * UM, rel=1e-12)


def test_a_warm_retract_stops_at_the_warm_z_limit_instead_of_being_refused(daq, context, pacer):
    # surface at -1 V, 2 um/V: 1 um is -0.5 V (allowed warm); 10 um would be 4 V, beyond the warm 2 V
    scanner = z_scanner(daq, context, surface_volts=-1, meters_per_volt="2 um/V")
    scanner.approach(1 * UM, pacer)
    assert daq.outputs["Dev1/ao2"] == -0.5
    scanner.retract(pacer)
    assert daq.outputs["Dev1/ao2"] == 2.0  # the warm limit exactly, 6 um above the surface
    assert z_writes(daq).max() == 2.0  # never beyond it on the way
    assert daq.tasks[-1].channels == [{"kind": "ao", "physical": "Dev1/ao2", "min": -2, "max": 2}]
    assert scanner.position()[2] == pytest.approx(6 * UM, rel=1e-12)


def test_a_warm_retract_with_the_calibration_reversed_withdraws_to_the_lower_limit(daq, context, pacer):
    scanner = z_scanner(daq, context, surface_volts=1, meters_per_volt="-2 um/V")  # pins at 0 V: 2 um
    scanner.retract(pacer)
    assert daq.outputs["Dev1/ao2"] == -2.0
    assert z_writes(daq).min() == -2.0
    assert scanner.position()[2] == pytest.approx(6 * UM, rel=1e-12)


@pytest.mark.parametrize(
    "surface_volts, meters_per_volt", [(-1.9, "0.3 um/V"), (-1.7, "0.35 um/V"), (1.9, "-1.1 um/V")]
)
def test_a_retract_to_a_limit_the_calibration_does_not_hit_exactly_stays_inside_it(
    daq, context, pacer, surface_volts, meters_per_volt
):
    # For these, height -> volts of the limit's own height comes out an ulp beyond the limit.
    scanner = z_scanner(daq, context, surface_volts=surface_volts, meters_per_volt=meters_per_volt)
    scanner.retract(pacer)
    volts = daq.outputs["Dev1/ao2"]
    assert -2.0 <= volts <= 2.0 and abs(volts) == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize(
    "z_changes, height_um, reach_um, volts",
    [
        ({"surface_volts": -1, "meters_per_volt": "2 um/V"}, 8, (-2, 6), "3"),
        ({"surface_volts": 1, "meters_per_volt": "-2 um/V"}, 8, (-2, 6), "-3"),
        ({}, 2, (8.4, 13.2), "-7.333"),
    ],
    ids=["short", "reversed", "surface-outside"],
)
def test_a_warm_approach_beyond_the_warm_z_limit_is_still_refused_before_any_task(
    daq, context, pacer, z_changes, height_um, reach_um, volts
):
    scanner = z_scanner(daq, context, **z_changes)
    tasks_before, outputs_before = len(daq.tasks), dict(daq.outputs)
    reach = rf"\[{reach_um[0]:.3f}, {reach_um[1]:.3f}\] um"
    with pytest.raises(InstrumentError, match=rf"outside the z piezo's reach {reach}"):
        scanner.approach(height_um * UM, pacer)
    with pytest.raises(LimitError, match=rf"z piezo voltage {volts} V is outside the warm limits \[-2, 2\] V"):
        scanner._move_z(height_um * UM, pacer)
    assert len(daq.tasks) == tasks_before and daq.outputs == outputs_before


def test_a_failing_write_closes_the_task_and_the_position_is_measured_again(daq, context, scanner, pacer):
    daq.fail_write_after = 10
    with pytest.raises(InstrumentError, match="device removed"):
        scanner.move_to(30 * UM, 0.0, pacer)
    assert all(task.closed for task in daq.tasks)
    # the pins kept the last step that went through; the scanner knows it from a new readback
    assert daq.tasks[-1].physical()[0] == "Dev1/_ao0_vs_aognd"
    assert scanner.position()[0] == pytest.approx(daq.outputs["Dev1/ao0"] * 6 * UM, abs=1e-15)
    assert 0 < scanner.position()[0] < 30 * UM


# --- refusals before any task


@pytest.mark.parametrize(
    "cold, overrides, target",
    [
        (False, {}, (30 * UM, 0.0)),  # x 5 V > warm 2 V (inside the station range)
        (False, {}, (0.0, 10 * UM)),  # y 2.5 V > warm 2 V
        (True, {"x": {"cold_volts": [-5, 5]}}, (40 * UM, 0.0)),  # x 6.67 V > cold 5 V
    ],
    ids=["warm-x", "warm-y", "cold-x"],
)
def test_a_move_outside_the_active_voltage_limits_is_refused_before_any_task(
    daq, context, pacer, cold, overrides, target
):
    block = scanner_block(cold)
    for name, change in overrides.items():
        block["axes"][name].update(change)
    scanner = NIDAQScanner.from_config(block, context, daqmx=daq.daqmx)
    scanner.attach_limits(STATION_LIMITS)
    tasks_before, outputs_before = len(daq.tasks), dict(daq.outputs)
    with pytest.raises(LimitError, match="cold limits" if cold else "warm limits"):
        scanner.move_to(*target, pacer)
    assert len(daq.tasks) == tasks_before
    assert daq.outputs == outputs_before


def test_a_z_move_outside_the_warm_limits_is_refused_before_any_task(daq, context, pacer):
    scanner = make_scanner(daq, context, cold=False)
    tasks_before = len(daq.tasks)
    # inside the station's z range, but -7.33 V: the role refuses it from z_range() ...
    with pytest.raises(InstrumentError, match=r"z = 2\.000 um is outside the z piezo's reach \[8\.400, 13\.200\] um"):
        scanner.approach(2 * UM, pacer)
    # ... and the driver's own voltage check stands behind it
    with pytest.raises(LimitError, match=r"z piezo voltage -7\.333 V is outside the warm limits"):
        scanner._move_z(2 * UM, pacer)
    assert len(daq.tasks) == tasks_before


def test_a_start_outside_the_active_limits_refuses_the_move(daq, context, pacer):
    daq.outputs["Dev1/ao0"] = 5.0  # left there by a cold session
    scanner = make_scanner(daq, context, cold=False)
    tasks_before = len(daq.tasks)
    with pytest.raises(LimitError, match="x piezo voltage 5 V is outside the warm limits"):
        scanner.move_to(0.0, 0.0, pacer)
    assert len(daq.tasks) == tasks_before


def test_a_line_outside_the_warm_limits_is_refused_before_any_task(daq, context, readout, pacer):
    scanner = make_scanner(daq, context, cold=False)
    tasks_before = len(daq.tasks)
    line = ScanLine((-5 * UM, 0.0), (20 * UM, 0.0), 11, 0.1)  # inside the station range; 3.3 V at the end
    with pytest.raises(LimitError, match="x piezo voltage 3.333 V is outside the warm limits"):
        scanner.scan_line(line, readout, "flux", pacer)
    assert len(daq.tasks) == tasks_before


@pytest.mark.parametrize(
    "action",
    [
        lambda s, r, p: s.scan_line(ScanLine((0.0, 0.0), (60 * UM, 0.0), 11, 0.1), r, "flux", p),
        lambda s, r, p: s.scan_line(ScanLine((0.0, -45 * UM), (0.0, 0.0), 11, 0.1), r, "flux", p),
        lambda s, r, p: s.move_to(0.0, 45 * UM, p),
        lambda s, r, p: s.approach(0.2 * UM, p),
    ],
    ids=["line-x", "line-y", "move-y", "approach-z"],
)
def test_the_station_scan_range_is_checked_before_any_task(daq, scanner, readout, pacer, action):
    tasks_before = len(daq.tasks)
    with pytest.raises(LimitError, match="outside the station limits"):
        action(scanner, readout, pacer)
    assert len(daq.tasks) == tasks_before


def test_a_line_faster_than_the_sample_rate_limits_is_refused_before_any_task(daq, scanner, readout, pacer):
    tasks_before = len(daq.tasks)
    with pytest.raises(LimitError, match="sample rate limits"):
        scanner.scan_line(ScanLine((0.0, 0.0), (10 * UM, 0.0), 1000, 0.001), readout, "flux", pacer)
    assert len(daq.tasks) == tasks_before


# --- hardware-timed lines

LINE = ScanLine((-10 * UM, 3 * UM), (10 * UM, 3 * UM), 101, 0.5)


def line_tasks(daq) -> tuple[FakeTask, FakeTask]:
    ao_task, ai_task = daq.timed_tasks()[-2:]
    assert ao_task.kinds() == {"ao"} and ai_task.kinds() == {"ai"}
    return ao_task, ai_task


def test_a_line_is_one_ao_and_one_ai_task_on_one_clock(daq, scanner, readout, pacer):
    scanner.scan_line(LINE, readout, "flux", pacer)
    ao_task, ai_task = line_tasks(daq)
    assert ao_task.channels == [
        {"kind": "ao", "physical": "Dev1/ao0", "min": -10, "max": 10},
        {"kind": "ao", "physical": "Dev1/ao1", "min": -10, "max": 10},
    ]
    assert ai_task.channels == [{"kind": "ai", "physical": "Dev1/ai0", "min": -10.0, "max": 10.0}]
    for task in (ao_task, ai_task):
        assert task.timing_config == dict(rate=pytest.approx(101 / 0.5), source="", active_edge=RISING,
                                          sample_mode=FINITE, samps_per_chan=101)
    assert ao_task.trigger == {"trigger_source": "/Dev1/ai/StartTrigger", "trigger_edge": RISING}
    assert ai_task.trigger is None
    assert ai_task.reads[-1]["n"] == 101 and ai_task.reads[-1]["timeout"] > LINE.duration
    assert len(daq.timed_tasks()) == 2  # the flight to the start is on-demand


def test_the_ao_task_is_armed_before_the_ai_task_starts_both(daq, scanner, readout, pacer):
    scanner.scan_line(LINE, readout, "flux", pacer)
    ao_task, ai_task = line_tasks(daq)
    events = [event for event in daq.events if event[1] in (ao_task.number, ai_task.number)]
    assert events.index(("start", ao_task.number)) < events.index(("start", ai_task.number))
    assert events.index(("start", ai_task.number)) < events.index(("read", ai_task.number))
    assert ao_task.closed and ai_task.closed


def test_the_line_voltages_are_an_x_ramp_at_constant_y_from_the_calibration(daq, scanner, readout, pacer):
    scanner.scan_line(LINE, readout, "flux", pacer)
    ao_task, _ = line_tasks(daq)
    (data, auto_start), = ao_task.writes
    assert auto_start is False  # started by the AI task's trigger, not by the write
    assert data.shape == (2, 101)
    assert data[0] == pytest.approx(np.linspace(-10, 10, 101) / 6, abs=1e-12)  # 6 um/V
    assert data[1] == pytest.approx(np.full(101, 0.5 + 3 / 5), abs=1e-12)  # 5 um/V about 0.5 V
    assert scanner.position()[:2] == pytest.approx((10 * UM, 3 * UM), abs=1e-15)


def test_the_line_flies_to_its_start_first(daq, scanner, readout, pacer):
    scanner.scan_line(LINE, readout, "flux", pacer)
    flight = daq.tasks[daq.tasks.index(daq.timed_tasks()[-2]) - 1]
    assert flight.timing_config is None
    assert flight.writes[-1][0][:, 0] == pytest.approx([x_volts(-10 * UM), y_volts(3 * UM)], abs=1e-12)


def test_the_line_flux_is_the_ai_volts_times_the_readout_calibration(daq, scanner, readout, pacer):
    fll_volts = np.linspace(-2.0, 3.0, 101)
    daq.inputs["Dev1/ai0"] = lambda n: fll_volts[:n]
    flux = scanner.scan_line(LINE, readout, "flux", pacer)
    assert flux == pytest.approx(fll_volts * 0.25, abs=1e-15)


def test_the_line_waits_its_duration_on_the_pacer(context, scanner, readout, pacer):
    scanner.move_to(*LINE.start, pacer)
    start = context.clock.now()
    scanner.scan_line(LINE, readout, "flux", pacer)
    assert context.clock.now() - start == pytest.approx(LINE.duration, rel=1e-12)


def test_the_tasks_are_closed_when_the_read_fails(daq, scanner, readout, pacer):
    def timeout(n):
        raise RuntimeError("DAQmx -200284: some or all of the samples requested have not yet been acquired")

    daq.inputs["Dev1/ai0"] = timeout
    with pytest.raises(InstrumentError, match="scan line.*-200284"):
        scanner.scan_line(LINE, readout, "flux", pacer)
    ao_task, ai_task = line_tasks(daq)
    assert ao_task.closed and ai_task.closed
    assert all(task.closed for task in daq.tasks)
    # where the line stopped is measured again, not assumed
    assert daq.tasks[-1].physical()[0] == "Dev1/_ao0_vs_aognd"


class AbortDuringLongWaits(CleanupPacer):
    """A pacer whose run is aborted during any wait of `seconds` or longer."""

    def __init__(self, clock, seconds):
        super().__init__(clock)
        self.seconds = seconds

    def wait(self, seconds):
        if seconds >= self.seconds:
            raise AbortRequested("operator abort")
        super().wait(seconds)


def test_the_tasks_are_closed_when_the_line_is_aborted(daq, context, scanner, readout, pacer):
    scanner.move_to(*LINE.start, pacer)
    pins_before, position_before = dict(daq.outputs), scanner.position()
    with pytest.raises(AbortRequested):
        scanner.scan_line(LINE, readout, "flux", AbortDuringLongWaits(context.clock, LINE.duration))
    ao_task, ai_task = line_tasks(daq)
    assert ao_task.closed and ai_task.closed and ai_task.reads == []
    # The abort came before the line was clocked out (the fake moves the pins of a timed AO
    # task only at wait_until_done), so nothing may have touched the pins: no parking, no
    # jump to the line's end, no return to zero.
    assert daq.outputs == pins_before
    # Where the line stopped is measured again (the readback after the line's tasks), and
    # the scanner reports that: the line's start, at the same height.
    readback = daq.tasks[-1]
    assert readback.physical() == ["Dev1/_ao0_vs_aognd", "Dev1/_ao1_vs_aognd", "Dev1/_ao2_vs_aognd"]
    assert readback.closed
    assert scanner.output_volts() == {"x": pins_before["Dev1/ao0"], "y": pins_before["Dev1/ao1"],
                                      "z": pins_before["Dev1/ao2"]}
    assert scanner.position() == pytest.approx(position_before, abs=1e-15)
    assert scanner.position()[:2] == pytest.approx(LINE.start, abs=1e-15)


def test_the_scanner_reads_the_fll_registered_for_its_device(daq, context, scanner, pacer):
    make_readout(daq, context, channel="ai3", phi0_per_volt=0.5)
    assert isinstance(context.shared["Dev1"], NIDAQFluxReadout)
    daq.inputs["Dev1/ai3"] = lambda n: np.full(n, 2.0)
    flux = scanner.scan_line(LINE, StubLockin(scanner), "flux", pacer)
    _, ai_task = line_tasks(daq)
    assert ai_task.physical() == ["Dev1/ai3"]
    assert flux == pytest.approx(np.full(101, 1.0))


def test_an_fll_on_another_device_is_refused(daq, context, scanner, pacer):
    other = NIDAQFluxReadout(daq.daqmx, "Dev2", "ai0", phi0_per_volt=0.25, pickup_radius=0.1 * UM)
    tasks_before = len(daq.tasks)
    with pytest.raises(InstrumentError, match="needs both on one DAQ"):
        scanner.scan_line(LINE, other, "flux", pacer)
    assert len(daq.tasks) == tasks_before


# --- point-by-point lines: susceptibility, or no DAQ FLL


@pytest.mark.parametrize("signal", ["susceptibility", "flux"])
def test_a_line_without_a_daq_fll_signal_is_read_point_by_point(daq, scanner, pacer, signal):
    lockin = StubLockin(scanner)
    line = ScanLine((-4 * UM, 1 * UM), (4 * UM, 1 * UM), 5, 0.5)
    values = scanner.scan_line(line, lockin, signal, pacer)
    assert daq.timed_tasks() == []  # nothing hardware-timed
    assert [read[0] for read in lockin.reads] == [signal] * 5
    assert [read[1] for read in lockin.reads] == pytest.approx([0.1] * 5)  # the line's dwell
    assert values == pytest.approx([-4, -2, 0, 2, 4], abs=1e-9)  # read at each point
    assert scanner.position()[:2] == pytest.approx((4 * UM, 1 * UM), abs=1e-15)


def test_susceptibility_lines_with_the_fll_readout_ask_for_the_lock_in(scanner, readout, pacer):
    with pytest.raises(InstrumentError, match="susceptometry needs the lock-in readout"):
        scanner.scan_line(LINE, readout, "susceptibility", pacer)


# --- lines that follow a tilted surface: z along the line

# A tilted plane (2 % along x, -1 % along y, 3 um up at the origin) and lines above it.
TILTED = SurfacePlane(z0=3 * UM, slope_x=0.02, slope_y=-0.01, source="plane fit of 3 touchdowns")


def line_above(surface: SurfacePlane, height: float, start, end, n_points=101, duration=0.5) -> ScanLine:
    """A line `height` (m) above `surface`: its z at both ends from the plane."""
    z = tuple(float(surface.height_at(*point)) + height for point in (start, end))
    return ScanLine(start, end, n_points, duration, z=z)


def test_a_line_with_z_writes_x_y_and_z_from_one_timed_task(daq, scanner, readout, pacer):
    scanner.record_surface(TILTED)
    line = line_above(TILTED, 1 * UM, (-10 * UM, 3 * UM), (10 * UM, 3 * UM))
    z_start, z_end = line.z
    assert (z_start, z_end) == pytest.approx((3.77 * UM, 4.17 * UM), abs=1e-15)
    scanner.scan_line(line, readout, "flux", pacer)
    ao_task, _ = line_tasks(daq)
    assert ao_task.physical() == ["Dev1/ao0", "Dev1/ao1", "Dev1/ao2"]
    assert [(channel["min"], channel["max"]) for channel in ao_task.channels] == [(-10, 10)] * 3
    (data, auto_start), = ao_task.writes
    assert auto_start is False and data.shape == (3, 101)
    assert data[0] == pytest.approx(x_volts(np.linspace(-10, 10, 101) * UM), abs=1e-12)
    assert data[1] == pytest.approx(np.full(101, y_volts(3 * UM)), abs=1e-12)
    # z: first and last samples from the plane, linear between, through the z calibration
    assert data[2][0] == pytest.approx(z_volts(z_start), abs=1e-12)
    assert data[2][-1] == pytest.approx(z_volts(z_end), abs=1e-12)
    assert np.diff(data[2]) == pytest.approx(np.full(100, (z_end - z_start) / 1.2e-6 / 100), abs=1e-12)
    assert scanner.position() == pytest.approx((10 * UM, 3 * UM, z_end), abs=1e-15)


def test_a_line_with_z_flies_to_its_start_in_x_y_and_z_together(daq, scanner, readout, pacer):
    scanner.record_surface(TILTED)
    line = line_above(TILTED, 1 * UM, (-10 * UM, 3 * UM), (10 * UM, 3 * UM))
    scanner.scan_line(line, readout, "flux", pacer)
    flight = daq.tasks[daq.tasks.index(daq.timed_tasks()[-2]) - 1]
    assert flight.timing_config is None and flight.physical() == ["Dev1/ao0", "Dev1/ao1", "Dev1/ao2"]
    path = np.array([data[:, 0] for data, _ in flight.writes])
    end = np.array([x_volts(-10 * UM), y_volts(3 * UM), z_volts(line.z[0])])
    fractions = path / end  # the pins started at 0 V: one straight line has x, y, z at one fraction
    assert fractions == pytest.approx(np.repeat(fractions[:, :1], 3, axis=1), abs=1e-12)
    assert path[-1] == pytest.approx(end, abs=1e-12)


def test_a_line_without_z_leaves_z_alone(daq, scanner, readout, pacer):
    z_before = daq.outputs["Dev1/ao2"]
    scanner.scan_line(LINE, readout, "flux", pacer)
    assert all("Dev1/ao2" not in task.physical() for task in daq.tasks if task.writes)
    assert daq.outputs["Dev1/ao2"] == z_before


def test_a_point_by_point_line_with_z_moves_z_at_each_point(daq, scanner, pacer):
    scanner.record_surface(TILTED)
    lockin = StubLockin(scanner)
    line = line_above(TILTED, 2 * UM, (-4 * UM, 1 * UM), (4 * UM, 1 * UM), n_points=5, duration=0.5)
    scanner.scan_line(line, lockin, "susceptibility", pacer)
    assert daq.timed_tasks() == []
    assert [read[4] for read in lockin.reads] == pytest.approx(np.linspace(*line.z, 5), abs=1e-15)
    heights = [z - float(TILTED.height_at(x, y)) for _, _, x, y, z in lockin.reads]
    assert heights == pytest.approx([2 * UM] * 5, abs=1e-15)  # 2 um above the plane at every point
    for task in daq.tasks[1:]:  # after the readback at build: every move writes x, y and z together
        assert task.physical() == ["Dev1/ao0", "Dev1/ao1", "Dev1/ao2"]


# warm: z reaches 8.4-13.2 um; a flat surface at 8 um; a line 1 um above it at its start, 6 um at its end
Z_BEYOND_WARM = ScanLine((-5 * UM, 0.0), (5 * UM, 0.0), 11, 0.1, z=(9 * UM, 14 * UM))


@pytest.mark.parametrize("signal, on_lockin", [("flux", False), ("susceptibility", True)], ids=["timed", "points"])
def test_a_line_whose_z_leaves_the_voltage_limits_is_refused_with_nothing_written(
    daq, context, pacer, signal, on_lockin
):
    scanner = make_scanner(daq, context, cold=False)
    scanner.record_surface(SurfacePlane(z0=8 * UM))
    readout = StubLockin(scanner) if on_lockin else make_readout(daq, context)
    tasks_before, outputs_before = len(daq.tasks), dict(daq.outputs)
    # the role refuses it from z_range() before asking the driver ...
    with pytest.raises(InstrumentError, match=r"z = 14\.000 um is outside the z piezo's reach \[8\.400, 13\.200\]"):
        scanner.scan_line(Z_BEYOND_WARM, readout, signal, pacer)
    # ... and the driver checks every voltage of the line itself before any task
    with pytest.raises(LimitError, match=r"scan line: z piezo voltage 2\.667 V is outside the warm limits \[-2, 2\]"):
        scanner._scan_line(Z_BEYOND_WARM, readout, signal, pacer)
    assert len(daq.tasks) == tasks_before and daq.outputs == outputs_before


@pytest.mark.parametrize(
    "cold, z_changes, reach_um",
    [
        (True, {}, (-1.2, 22.8)),  # -10 V and 10 V about the surface at -9 V, 1.2 um/V
        (False, {}, (8.4, 13.2)),  # -2 V and 2 V
        (False, {"surface_volts": 1, "meters_per_volt": "-2 um/V"}, (-2.0, 6.0)),  # 2 V is the low end
        (True, {"surface_volts": 1, "meters_per_volt": "-2 um/V"}, (-18.0, 22.0)),
    ],
    ids=["cold", "warm", "warm-reversed", "cold-reversed"],
)
def test_z_range_is_the_active_z_voltage_limits_in_z(daq, context, cold, z_changes, reach_um):
    scanner = z_scanner(daq, context, cold, **z_changes)
    low, high = scanner.z_range()
    assert (low, high) == pytest.approx((reach_um[0] * UM, reach_um[1] * UM), rel=1e-12)
    assert scanner.highest_reachable_z() == high
    limits = scanner.voltage_limits("z")
    for z in (low, high):  # both ends can be written as they are
        assert limits[0] <= float(scanner.axes["z"].volts(z)) <= limits[1]


# --- the FLL readout


def test_the_readout_registers_for_its_device_once(daq, context, readout):
    assert context.shared == {"Dev1": readout}
    with pytest.raises(UserInputError, match="already taken"):
        make_readout(daq, context)


def test_read_flux_is_the_mean_volts_times_the_calibration(daq, context, readout, pacer):
    volts = np.linspace(0.0, 2.0, 100)
    daq.inputs["Dev1/ai0"] = lambda n: volts[:n]
    start = context.clock.now()
    flux = readout.read_flux(0.01, pacer)
    assert flux == pytest.approx(1.0 * 0.25)
    (task,) = daq.tasks
    assert task.channels == [{"kind": "ai", "physical": "Dev1/ai0", "min": -10.0, "max": 10.0}]
    assert task.timing_config == dict(rate=10e3, source="", active_edge=RISING, sample_mode=FINITE, samps_per_chan=100)
    assert task.reads[-1]["n"] == 100
    assert context.clock.now() - start == pytest.approx(0.01)
    assert task.closed


def test_a_failing_flux_read_closes_its_task(daq, readout, pacer):
    def broken(n):
        raise RuntimeError("DAQmx -200279: buffer overflow")

    daq.inputs["Dev1/ai0"] = broken
    with pytest.raises(InstrumentError, match="-200279"):
        readout.read_flux(0.01, pacer)
    assert daq.tasks[-1].closed


@pytest.mark.parametrize("volts, locked", [(3.0, True), (-9.4, True), (9.7, False), (-9.6, False), (10.0, False)])
def test_lock_is_lost_when_the_fll_output_rails(daq, readout, volts, locked):
    daq.inputs["Dev1/ai0"] = lambda n: np.full(n, volts)
    assert readout.is_locked() is locked
    assert daq.tasks[-1].closed


@pytest.mark.parametrize("level", [True, False])
def test_lock_follows_the_digital_lock_line_when_configured(daq, context, level):
    readout = make_readout(daq, context, lock_line="port0/line0")
    daq.inputs["Dev1/ai0"] = lambda n: np.full(n, 10.0)  # ignored: the line decides
    daq.lines["Dev1/port0/line0"] = level
    assert readout.is_locked() is level
    assert daq.tasks[-1].channels == [{"kind": "di", "physical": "Dev1/port0/line0"}]


def test_susceptibility_needs_the_lock_in(readout, pacer):
    with pytest.raises(InstrumentError, match="susceptometry needs the lock-in readout"):
        readout.read_susceptibility(0.1, pacer)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"phi0_per_volt": 0}, "non-zero calibration"),
        ({"phi0_per_volt": "0.25 V"}, "quantity in Phi0/V"),
        ({"pickup_radius": "-1 um"}, "pickup_radius must be positive"),
        ({"unlock_threshold": "11 V"}, "unlock_threshold"),
        ({"channel": "Dev2/ai0"}, "not on device"),
        ({"gain": 3}, "unknown setting"),
    ],
)
def test_a_bad_readout_block_is_refused(daq, context, overrides, message):
    with pytest.raises(UserInputError, match=message):
        make_readout(daq, context, **overrides)
    assert context.shared == {}


# --- identity and snapshot


def test_identity_and_snapshot_name_the_device_channels_limits_and_calibrations(scanner, readout):
    assert scanner.identity() == "NI-DAQ piezo scanner on Dev1 (x Dev1/ao0, y Dev1/ao1, z Dev1/ao2; cold limits)"
    snapshot = json.loads(json.dumps(scanner.snapshot()))
    assert snapshot["device"] == "Dev1" and snapshot["cold"] is True
    assert snapshot["axes"]["x"] == {
        "channel": "Dev1/ao0", "meters_per_volt_m_per_V": 6e-6, "center_volts_V": 0.0,
        "active_limits_V": [-10, 10], "warm_volts_V": [-2, 2], "cold_volts_V": [-10, 10],
    }
    assert snapshot["axes"]["z"]["surface_volts_V"] == -9
    assert snapshot["z_m"] == pytest.approx(9 * 1.2 * UM)

    assert readout.identity() == "NI-DAQ flux-locked-loop readout on Dev1/ai0 (0.25 Phi0/V)"
    snapshot = json.loads(json.dumps(readout.snapshot()))
    assert snapshot["channel"] == "Dev1/ai0" and snapshot["phi0_per_volt_Phi0_per_V"] == 0.25
    assert snapshot["locked"] is True and snapshot["pickup_radius_m"] == pytest.approx(0.1 * UM)
    assert snapshot["unlock_threshold_V"] == 9.5
