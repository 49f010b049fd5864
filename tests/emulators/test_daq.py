"""The emulated NI-DAQ card (sqm.emulators.daq) under the real NI-DAQ drivers: the piezo
voltages move the twin's sensor, a hardware-timed line reads the world's flux along it,
an unlock is told, limits are refused before anything is written, and `sqm run` of an
image on configs/stations/lab-emulated.yaml gives the twin's image."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np
import pytest
import yaml

from sqm.cli import main
from sqm.clock import ScaledClock
from sqm.drivers.base import HardwareContext
from sqm.drivers.nidaq import DAQmx, NIDAQFluxReadout, NIDAQScanner
from sqm.emulators.daq import DaqError, WorldDAQ
from sqm.emulators.faults import Fault
from sqm.emulators.link import WorldLink
from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.pacing import CleanupPacer
from sqm.readback import find_step, read_steps
from sqm.roles import ScanLine
from sqm.sims.world import World, WorldSettings
from sqm.station import DEFAULT_STATION, Station, read_station_limits

from ..conftest import CONFIGS

pytest.importorskip("pyvisa_py")

DAQ_STATION = CONFIGS / "stations" / "lab-emulated.yaml"
HARDWARE = yaml.safe_load(DAQ_STATION.read_text())["emulated"]["hardware"]
LIMITS = read_station_limits(DEFAULT_STATION)[1]
UM = 1e-6
LSB = 20.0 / 2**16  # V: one step of the card's 16-bit input on +-10 V
PHI0_PER_VOLT = 0.02  # the station file's FLL calibration
LINE = ScanLine((-10 * UM, 3 * UM), (10 * UM, 3 * UM), 101, 0.1)  # 1 kHz: 1 ms per sample


@dataclass
class Bench:
    card: WorldDAQ
    link: WorldLink
    scanner: NIDAQScanner
    readout: NIDAQFluxReadout
    pacer: CleanupPacer

    def world_position(self) -> list[float]:
        with self.link.world() as world:
            return list(world.position)


def bench(scanner_changes: dict | None = None, readout_changes: dict | None = None) -> Bench:
    """The station file's scanner and FLL blocks (changed as given; a None value drops a key) on
    one card, the drivers built on it directly; the world superconducting in a 2 G field."""
    clock = ScaledClock(1000.0)
    link = WorldLink(World(replace(WorldSettings(), start_temperature=1.5)), clock)
    with link.world() as world:
        world.start_field_ramp(2e-4, 1e-2)  # T, T/s: there within 20 ms of lab time
    blocks = [{key: value for key, value in {**HARDWARE[role], **(changes or {})}.items() if value is not None}
              for role, changes in (("scanner", scanner_changes), ("squid", readout_changes))]
    card = WorldDAQ(link, *blocks)
    context, daqmx = HardwareContext(visa_library="", clock=clock), DAQmx.from_module(card.module())
    readout = NIDAQFluxReadout.from_config(dict(blocks[1]), context, daqmx=daqmx)
    scanner = NIDAQScanner.from_config(dict(blocks[0]), context, daqmx=daqmx)
    for role in (scanner, readout):
        role.attach_limits(LIMITS)
    return Bench(card, link, scanner, readout, CleanupPacer(clock))


def flux_noise(dwell: float) -> float:
    """Phi0 rms of one sample averaged `dwell` s: the world's white noise, and the converter's step."""
    return float(np.hypot(1e-6 / np.sqrt(2 * dwell), LSB * PHI0_PER_VOLT / np.sqrt(12)))


def test_moves_put_the_worlds_sensor_where_the_driver_asks():
    daq = bench()
    assert daq.scanner.position() == pytest.approx((0.0, 0.0, 10 * UM), abs=1e-12)  # read back where the world is
    daq.scanner.move_to(-10 * UM, 3 * UM, daq.pacer)
    daq.scanner.approach(1 * UM, daq.pacer)
    assert daq.world_position() == pytest.approx([-10 * UM, 3 * UM, 1 * UM], abs=1e-15)
    # x: 5 um/V about 0 V; z: 1 um/V from the surface at -5 V
    assert [daq.card.pins[f"Dev1/ao{n}"] for n in range(3)] == pytest.approx([-2.0, 0.6, -4.0], abs=1e-12)
    measured = daq.scanner.measure_output_volts()  # through the internal _aoN_vs_aognd channels
    assert list(measured.values()) == pytest.approx([-2.0, 0.6, -4.0], abs=LSB)
    with daq.link.world() as world:
        assert world.contact.crashes == []


def test_a_move_into_the_sample_is_made_and_the_world_records_the_crash():
    daq = bench()
    with daq.link.world() as world:
        world.contact.raise_surface(2 * UM)  # the sample is 2 um higher than the station file knows
    daq.scanner.approach(1 * UM, daq.pacer)  # to z = 1 um: 1 um into the sample
    with daq.link.world() as world:
        assert world.position[2] == pytest.approx(1 * UM, abs=1e-15)
        assert world.contact.crashes and "pressed" in world.contact.crashes[0]


def test_a_raster_line_reads_the_worlds_flux_along_it():
    daq = bench()
    daq.scanner.move_to(*LINE.start, daq.pacer)
    daq.scanner.approach(1 * UM, daq.pacer)
    start = daq.link.clock.now()
    flux = daq.scanner.scan_line(LINE, daq.readout, "flux", daq.pacer)
    assert daq.link.clock.now() - start >= LINE.duration  # the line's lab time passed
    xs, ys = LINE.points()
    with daq.link.world() as world:
        clean = world.sensor_signal(xs, ys, "flux", np.full(LINE.n_points, 1 * UM))
        assert world.position == pytest.approx([10 * UM, 3 * UM, 1 * UM], abs=1e-15)  # the line's last sample
    assert np.ptp(clean) > 1e-3  # the Meissner screening of 2 G across the line: far above the noise
    residual, sigma = flux - clean, flux_noise(LINE.dwell)
    assert np.std(residual) == pytest.approx(sigma, rel=0.3)
    assert abs(np.mean(residual)) < 10e-6  # the slow drift, common to the line
    assert np.max(np.abs(residual - np.mean(residual))) < 5 * sigma


def test_a_line_with_its_own_z_moves_z_along_it():
    daq = bench()
    line = replace(LINE, z=(1 * UM, 1.5 * UM))
    flux = daq.scanner.scan_line(line, daq.readout, "flux", daq.pacer)
    xs, ys = line.points()
    with daq.link.world() as world:
        along = world.sensor_signal(xs, ys, "flux", np.linspace(1 * UM, 1.5 * UM, line.n_points))
        level = world.sensor_signal(xs, ys, "flux", np.full(line.n_points, 1 * UM))
        assert world.position == pytest.approx([10 * UM, 3 * UM, 1.5 * UM], abs=1e-15)
    sigma = flux_noise(line.dwell)
    assert np.std(flux - along) < 1.3 * sigma
    assert np.std(flux - level) > 10 * sigma  # not the flux at the line's first height


@pytest.mark.parametrize("lock_line", [None, "port0/line0"], ids=["railed output", "lock line"])
def test_an_unlocked_squid_is_told_by_the_driver(lock_line):
    daq = bench(readout_changes={"lock_line": lock_line})
    assert daq.readout.is_locked()
    with daq.link.world() as world:
        world.squid_locked = False
    assert not daq.readout.is_locked()
    railed = daq.readout.read_flux(0.01, daq.pacer)  # the FLL's integrator at its rail, as measured
    assert railed == pytest.approx(10.0 * PHI0_PER_VOLT, abs=LSB * PHI0_PER_VOLT)
    with daq.link.world() as world:
        world.squid_locked = True
    assert daq.readout.is_locked()


def test_a_voltage_beyond_the_limits_is_refused_before_anything_is_written():
    daq = bench(scanner_changes={"cold": False})  # warm: +-2 V, x within +-10 um
    writes, pins, position = daq.card.writes, dict(daq.card.pins), daq.world_position()
    with pytest.raises(LimitError, match=r"x piezo voltage 4 V is outside the warm limits \[-2, 2\]"):
        daq.scanner.move_to(20 * UM, 0.0, daq.pacer)
    assert (daq.card.writes, daq.card.pins, daq.world_position()) == (writes, pins, position)
    # ... and the card refuses what is beyond a channel's min/max, as NI-DAQmx does
    with daq.card.module().Task() as task:
        task.ao_channels.add_ao_voltage_chan("Dev1/ao0", min_val=-2.0, max_val=2.0)
        with pytest.raises(DaqError, match="-200561"):
            task.write(4.0, auto_start=True)
    assert (daq.card.writes, daq.card.pins) == (writes, pins)


def test_reading_the_fll_during_a_line_is_refused_as_on_an_x_series_card():
    """Without a lock line, `is_locked` (the squid_lock interlock, read during a scan line's
    wait) opens a second AI task while the line's runs: a real card refuses it (-50103),
    so does the emulated one. The station file gives the lock line, read on a digital port."""
    for lock_line, refused in ((None, True), ("port0/line0", False)):
        daq = bench(readout_changes={"lock_line": lock_line})
        line_ai = daq.card.module().Task()
        line_ai.ai_channels.add_ai_voltage_chan("Dev1/ai0", min_val=-10.0, max_val=10.0)
        line_ai.timing.cfg_samp_clk_timing(1000.0, samps_per_chan=100)
        line_ai.start()
        if refused:
            with pytest.raises(InstrumentError, match="-50103"):
                daq.readout.is_locked()
        else:
            assert daq.readout.is_locked()
        line_ai.close()
        assert daq.readout.is_locked()


def daq_station_text(faults: list | None = None, **sim) -> str:
    """lab-emulated.yaml on free ports (0), with `sim:` settings and a fault plan."""
    data = yaml.safe_load(DAQ_STATION.read_text())
    emulated = data["emulated"]
    emulated["sim"].update(sim)
    emulated["faults"] = faults or []
    for block in emulated["hardware"].values():
        if "address" in block:
            block["address"] = "TCPIP::127.0.0.1::0::SOCKET"
    return yaml.safe_dump(data, sort_keys=False)


def test_the_emulated_backend_serves_the_daq_roles_in_place_of_nidaqmx(monkeypatch):
    monkeypatch.setitem(sys.modules, "nidaqmx", None)  # NI's package absent: an import of it fails
    monkeypatch.delitem(sys.modules, "nidaqmx.constants", raising=False)
    station = Station.from_text(daq_station_text(), source="daq.yaml")
    try:
        assert sys.modules["nidaqmx"] is None and "nidaqmx.constants" not in sys.modules  # as they were
        assert isinstance(station.scanner, NIDAQScanner) and isinstance(station.squid, NIDAQFluxReadout)
        emulators = station.backend.emulators
        assert set(emulators.servers) == {"current_source", "voltmeter", "magnet", "temperature", "touchdown"}
        assert set(emulators.daq_roles) == {"scanner", "squid"}
        station.scanner.move_to(5 * UM, -2 * UM, CleanupPacer(station.clock))
        with emulators.link.world() as world:
            assert world.position[:2] == pytest.approx([5 * UM, -2 * UM], abs=1e-15)
        now = station.clock.now()
        emulators.add_fault("squid", Fault("squid_unlock", at=now, lasts=30.0))  # lab s
        station.clock.sleep(5.0)
        assert not station.squid.is_locked()
        station.clock.sleep(40.0)
        assert station.squid.is_locked()
        with pytest.raises(UserInputError, match="wire faults .'no_reply'. do not apply to the NI-DAQ"):
            emulators.add_fault("squid", Fault("no_reply", at=now))
    finally:
        station.close()


@pytest.mark.parametrize("fault, expected", [
    ({"instrument": "squid", "fault": "drop"}, "emulated.faults[0]: wire faults ('drop') do not apply to the NI-DAQ"),
    ({"instrument": "scanner", "fault": "squid_unlock"}, "cannot play 'squid_unlock' for nidaq_scanner"),
])
def test_faults_the_card_cannot_play_are_one_line_before_anything_starts(fault, expected):
    with pytest.raises(UserInputError, match=r"^daq\.yaml: ") as error:
        Station.from_text(daq_station_text(faults=[fault]), source="daq.yaml")
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_sqm_run_of_an_image_on_the_daq_station_gives_the_twins_image(tmp_path, capsys):
    procedure = tmp_path / "image.yaml"
    procedure.write_text(
        "steps:\n"
        "  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}\n"
        "  - raster_scan: {x: [-8 um, 8 um], y: [-4 um, 4 um], pixel_size: 1 um, line_time: 0.5 s, field: 2 G,\n"
        "                  reconstruct: false}\n")
    twin = yaml.safe_load(DEFAULT_STATION.read_text())
    twin["sim"]["flux_noise"] = 0
    stations = {"daq": daq_station_text(flux_noise=0), "twin": yaml.safe_dump(twin, sort_keys=False)}
    images = {}
    for name, text in stations.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        out = tmp_path / name
        assert main(["run", str(procedure), "--station", str(tmp_path / f"{name}.yaml"), "--out", str(out)]) == 0, \
            capsys.readouterr()
        (path,) = out.glob("*.h5")
        scan = find_step(read_steps(path), "raster_scan")
        assert scan.status == "completed"
        images[name] = scan.data["flux"]
    assert images["daq"].shape == (9, 17) and np.all(np.isfinite(images["daq"]))
    assert np.ptp(images["twin"]) > 1e-3
    assert np.corrcoef(images["daq"].ravel(), images["twin"].ravel())[0, 1] > 0.9999
    # without noise the two differ by the card's rounding: half a step of its converter, in Phi0
    assert np.max(np.abs(images["daq"] - images["twin"])) < LSB * PHI0_PER_VOLT


class _InterlockPacer:
    """A pacer that, like the runner's, reads the squid_lock interlock during each wait; and
    that may unlock the world's SQUID first (an unlock in the middle of a line)."""

    def __init__(self, daq: Bench, unlock: bool = False) -> None:
        self.daq, self.unlock, self.locked_readings = daq, unlock, []

    def now(self) -> float:
        return self.daq.pacer.now()

    def wait(self, seconds: float) -> None:
        if self.unlock:
            with self.daq.link.world() as world:
                world.squid_locked = False
        self.locked_readings.append(self.daq.readout.is_locked())
        self.daq.pacer.wait(seconds)


def test_without_a_lock_line_a_line_checks_its_own_samples_and_the_interlock_does_not_collide_with_it():
    """Found by the emulated card: without a lock line the squid_lock interlock, read during a
    scan line's wait, opened a second AI task beside the line's and every line failed on a real
    X-series card (-50103). The lock is now judged from the line's own samples."""
    daq = bench(readout_changes={"lock_line": None})
    pacer = _InterlockPacer(daq)
    flux = daq.scanner.scan_line(LINE, daq.readout, "flux", pacer)
    assert flux.shape == (101,) and True in pacer.locked_readings  # read during the line, no collision
    with pytest.raises(InstrumentError, match="FLL output railed .* during the scan line: the SQUID unlocked"):
        daq.scanner.scan_line(LINE, daq.readout, "flux", _InterlockPacer(daq, unlock=True))
