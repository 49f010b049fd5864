"""The emulated station as a user runs it: `sqm run` of the paper's bias loop on
configs/stations/lab-emulated.yaml goes through the real drivers and the emulators and
reproduces the twin's loop; bad input (a port taken, an address off loopback, a fault
the station cannot play) is one line and exit status 2 with nothing left running; `sqm
emulate` serves the instruments alone until stopped."""

from __future__ import annotations

import socket
import threading

import h5py
import numpy as np
import pytest
import yaml

from sqm.cli import main
from sqm.readback import find_step, read_steps
from sqm.session import run_procedure
from sqm.station import DEFAULT_STATION, Station
from sqm_paper.analysis import summarize_bias_loop

from ..cli.error_lines import one_error_line
from ..conftest import CONFIGS

pytest.importorskip("pyvisa_py")

EMULATED = CONFIGS / "stations" / "lab-emulated.yaml"
FIG3 = CONFIGS / "procedures" / "fig3_bias_loop.yaml"


def test_the_papers_bias_loop_through_the_real_drivers_reproduces_the_twins(tmp_path, capsys):
    assert main(["run", str(FIG3), "--station", str(EMULATED), "--out", str(tmp_path)]) == 0, capsys.readouterr()
    (path,) = tmp_path.glob("*.h5")
    sweep = find_step(read_steps(path), "bias_sweep")
    twin = run_procedure(FIG3, Station.from_file(DEFAULT_STATION), tmp_path / "twin")
    reference = find_step(read_steps(twin.path), "bias_sweep").data
    # The loop itself, point by point, within the sensor's noise: each run draws its own
    # (the 1/f part evolves with the lab time between readings, which the exchanges' wall
    # time sets, so it differs with the machine's load); 1 uPhi0 rms and 3.5 at most measured
    np.testing.assert_allclose(sweep.data["bias_current"], reference["bias_current"], rtol=0, atol=1e-9)
    difference = sweep.data["flux"] - reference["flux"]
    assert np.sqrt(np.mean(difference**2)) < 2e-6 and np.abs(difference).max() < 7e-6
    loop = summarize_bias_loop(sweep.data["bias_current"], sweep.data["flux"], sweep.data["branch"])
    # The features (the twin's: 135.0 / 160.0 / -119.3 uA, 70.5 uPhi0, 2.5 uPhi0). The zero
    # crossing and the switching current are read where the loop is flat (0.6 uPhi0/uA), so
    # 1.4 uPhi0 of noise moves them by ~2 uA: four of the sweep's 2 uA steps for those.
    assert loop.virgin_minimum == pytest.approx(135.0e-6, abs=4e-6)
    assert loop.virgin_zero_crossing == pytest.approx(160.0e-6, abs=8e-6)
    assert loop.switching_current == pytest.approx(-119.3e-6, abs=8e-6)
    assert loop.remanence == pytest.approx(70.5e-6, abs=5e-6)
    assert loop.antisymmetry_error < 6e-6
    with h5py.File(path, "r") as h5:
        assert h5.attrs["backend"] == "hardware" and h5.attrs["status"] == "completed"
        assert h5.attrs["safe_state"] == "safe"
        snapshot = h5[sweep.group]["snapshot"]
        identities = {role: str(snapshot[role].attrs.get("identity", "")) for role in snapshot}
    visa = {"current_source", "voltmeter", "magnet", "temperature", "touchdown"}
    assert all("SQM-EMULATOR" in identities[role] for role in visa), identities  # what each instrument says
    assert all(identities[role].startswith("NI-DAQ") for role in ("scanner", "squid")), identities  # the card's


def _station(tmp_path, change) -> str:
    data = yaml.safe_load(EMULATED.read_text())
    change(data["emulated"])
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_a_port_taken_is_one_line_and_nothing_is_left_running(tmp_path, capsys):
    station = _station(tmp_path, lambda emulated: None)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 51180))  # the magnet's port, held by another program
    holder.listen(1)
    try:
        assert main(["run", str(FIG3), "--station", station, "--out", str(tmp_path / "runs")]) == 2
        line = one_error_line(capsys)
        assert "emulated.hardware.magnet: port 51180 of 127.0.0.1 is taken" in line, line
    finally:
        holder.close()
    for port in (51121, 51107, 51113):  # the emulators started before it were stopped again
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.h5"))


@pytest.mark.parametrize("change, expected", [
    (lambda emulated: emulated.update(faults=[{"instrument": "squid", "fault": "no_reply"}]),
     "emulated.faults[0]: wire faults ('no_reply') do not apply to the NI-DAQ (nidaq_fll)"),
    (lambda emulated: emulated["hardware"]["voltmeter"].update(driver="keithley9999"),
     "emulated.hardware.voltmeter: unknown driver 'keithley9999'"),
    (lambda emulated: emulated["hardware"]["voltmeter"].update(address="GPIB0::7::INSTR"),
     "emulated.hardware.voltmeter.address: an emulated instrument listens on loopback"),
    (lambda emulated: emulated.update(faults=[{"instrument": "magnet", "fault": "melt"}]),
     "emulated.faults[0]: unknown fault 'melt'"),
    (lambda emulated: emulated.update(faults=[{"instrument": "laser", "fault": "quench"}]),
     "emulated.faults[0].instrument: no role 'laser' in this station"),
])
def test_bad_emulated_stations_are_one_line_before_anything_starts(tmp_path, capsys, change, expected):
    station = _station(tmp_path, change)
    assert main(["check", str(FIG3), "--station", station]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"sqm: error: {station}: ") and expected in line, line


def test_sqm_emulate_serves_the_instruments_until_stopped(tmp_path, capsys):
    from sqm.emulators.cli import main as emulate

    station = _station(tmp_path, lambda emulated: [block.update(address="TCPIP::127.0.0.1::0::SOCKET")
                                                  for block in emulated["hardware"].values() if "address" in block])
    ready, stop = threading.Event(), threading.Event()
    result = []
    thread = threading.Thread(target=lambda: result.append(emulate(station, ready=ready, stop=stop)))
    thread.start()
    assert ready.wait(20)
    printed = capsys.readouterr().out
    lines = [line.split() for line in printed.splitlines()[1:]]
    addresses = {fields[0]: fields[2] for fields in lines if fields[2].startswith("TCPIP::")}
    assert {fields[0] for fields in lines if "NI-DAQ" in " ".join(fields)} == {"scanner", "squid"}
    # the VISA instruments on their ports; the emulated NI-DAQ card has no wire (it serves a station in-process)
    assert set(addresses) == {"current_source", "voltmeter", "magnet", "temperature", "touchdown"}
    port = int(addresses["voltmeter"].split("::")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"*IDN?\n")
        assert b"MODEL 2182A,SQM-EMULATOR" in connection.recv(200)
    stop.set()
    thread.join(10)
    assert result == [0]


FIELD_LOOPS = """\
steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - field_sweep: {points: [0, 1.51 G, -1.51 G, 1.51 G], step: 0.1 G, probes: {lower: [30 um, -15 um]}}
"""


def test_the_papers_field_loops_through_the_ami_430_driver_ramping_for_real_are_the_twins(tmp_path, capsys):
    """Fig. 4b's loop of the lower domain (0 -> 1.51 G -> -1.51 G -> 1.51 G; one probe, so the
    sensor stays put between fields) with the AMI 430 driver polling a supply that really
    ramps: the loop is the twin's, switching and all."""
    procedure = tmp_path / "field_loops.yaml"
    procedure.write_text(FIELD_LOOPS)
    loops = {}
    emulated_station = _station(tmp_path, lambda emulated: [block.update(address="TCPIP::127.0.0.1::0::SOCKET")
                                                           for block in emulated["hardware"].values()
                                                           if "address" in block])  # any free ports
    for name, station in (("twin", CONFIGS / "stations" / "sim.yaml"), ("emulated", emulated_station)):
        assert main(["run", str(procedure), "--station", str(station), "--out", str(tmp_path / name)]) == 0, (
            capsys.readouterr())
        (path,) = (tmp_path / name).glob("*.h5")
        loops[name] = find_step(read_steps(path), "field_sweep").data
    twin, emulated = loops["twin"], loops["emulated"]
    np.testing.assert_allclose(emulated["field"], twin["field"], atol=2e-8)  # the same fields, to 0.2 mG
    assert np.corrcoef(emulated["flux_lower"], twin["flux_lower"])[0, 1] > 0.99
    assert np.max(np.abs(emulated["flux_lower"] - twin["flux_lower"])) < 0.1 * np.ptp(twin["flux_lower"])
