"""The real drivers together: the lab station over pyvisa-sim runs the paper's
procedure to the end, `sqm instruments` names every instrument or why it is silent,
and a fault at the wire in the middle of a run stops it with the reason in the file
and the station safe."""

from __future__ import annotations

import h5py
import pytest
import pyvisa
import yaml

from sqm.cli import main
from sqm.drivers.backend import SIM_FOLDER
from sqm.readback import read_steps
from sqm.roles import TouchdownSensor
from sqm.session import load, start_run
from sqm.station import Station

from ..conftest import CONFIGS

LAB_SIM = CONFIGS / "stations" / "lab-pyvisa-sim.yaml"
IDENTITIES = {
    "current_source": "MODEL 6221",
    "voltmeter": "MODEL 2182A",
    "magnet": "MODEL 430",
    "temperature": "MODEL336",
    "scanner": "ANC300",
    "squid": "SR830",
    "touchdown": "SR830",
}


@pytest.mark.parametrize(
    "device, addresses",
    [("keithley6221", ["GPIB0::12::INSTR"]), ("keithley2182", ["GPIB0::7::INSTR"]),
     ("ami430", ["TCPIP::localhost::7180::SOCKET"]), ("lakeshore336", ["GPIB0::13::INSTR"]),
     ("sr830", ["GPIB0::8::INSTR", "GPIB0::9::INSTR"]),  # the SQUID readout and the touchdown bridge
     ("anc300", ["TCPIP::localhost::7230::SOCKET"])],
)
def test_each_device_file_names_one_device_at_its_addresses(device, addresses):
    data = yaml.safe_load((SIM_FOLDER / f"{device}.yaml").read_text())
    assert list(data["devices"]) == [device]
    assert data["resources"] == {address: {"device": device} for address in addresses}


def test_the_merged_simulator_file_is_up_to_date_with_its_parts():
    import importlib.util

    spec = importlib.util.spec_from_file_location("merge_devices", SIM_FOLDER / "merge_devices.py")
    merge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(merge)
    assert (SIM_FOLDER / "lab.yaml").read_text() == merge.render(), "run drivers/sim/merge_devices.py"


def test_fig3_runs_to_completion_through_the_real_drivers(tmp_path, capsys):
    assert main(["run", str(CONFIGS / "procedures" / "fig3_bias_loop.yaml"), "--station", str(LAB_SIM),
                 "--out", str(tmp_path)]) == 0
    path = capsys.readouterr().out.strip()
    with h5py.File(path, "r") as h5:
        assert h5.attrs["backend"] == "hardware" and h5.attrs["status"] == "completed"
        assert h5.attrs["safe_state"] == "safe"
        for step in h5.values():
            assert step.attrs["status"] == "completed"
            for role, model in IDENTITIES.items():
                assert model in step["snapshot"][role].attrs["identity"]
        sweep = h5["003_bias_sweep/data"]
        assert sweep["flux"].shape == (501,)
        # the 6221 reads back the programmed level: the sweep's schedule, point by point
        assert sweep["bias_current"][100] == pytest.approx(200e-6)
        assert sweep["bias_current"][300] == pytest.approx(-200e-6)


def test_sqm_instruments_lists_every_role_with_its_identity(capsys):
    assert main(["instruments", "--station", str(LAB_SIM)]) == 0
    out = capsys.readouterr().out
    for role, model in IDENTITIES.items():
        line = next(line for line in out.splitlines() if line.strip().startswith(role))
        assert model in line


def test_a_lab_station_without_a_touchdown_block_builds_and_says_it_has_none(tmp_path, capsys):
    data = yaml.safe_load(LAB_SIM.read_text())
    del data["hardware"]["touchdown"]
    data["hardware"]["visa_library"] = f"{SIM_FOLDER / 'lab.yaml'}@sim"
    station_file = tmp_path / "station.yaml"
    station_file.write_text(yaml.safe_dump(data))
    station = Station.from_file(station_file)
    try:
        assert not station.has_role(TouchdownSensor)
    finally:
        station.close()
    assert main(["instruments", "--station", str(station_file)]) == 0
    assert "touchdown       none in this station file" in capsys.readouterr().out


# nothing sensible answers there: pymeasure's warning about the missing termination is expected
@pytest.mark.filterwarnings("ignore:read string doesn't end with termination characters:UserWarning")
def test_sqm_instruments_names_an_instrument_that_does_not_answer(tmp_path, capsys):
    data = yaml.safe_load(LAB_SIM.read_text())
    data["hardware"]["voltmeter"]["address"] = "GPIB0::29::INSTR"  # nothing there
    data["hardware"]["visa_library"] = f"{SIM_FOLDER / 'lab.yaml'}@sim"
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump(data))
    assert main(["instruments", "--station", str(station)]) == 1
    out = capsys.readouterr().out
    assert "voltmeter       NOT ANSWERING: " in out
    assert "MODEL 6221" in out and "SR830" in out  # the others still report
    # and a run refuses the station with a one-line reason, before anything moves or is written
    out_dir = tmp_path / "runs"
    assert main(["run", str(CONFIGS / "procedures" / "fig3_bias_loop.yaml"), "--station", str(station),
                 "--out", str(out_dir)]) == 1
    assert "hardware.voltmeter" in capsys.readouterr().err
    assert not out_dir.exists() or not list(out_dir.glob("*.h5"))


def _fault_after(resource, calls: int, fault):
    """Make the resource's reads misbehave from the `calls`-th one on."""
    original = resource.read
    count = {"n": 0}

    def read(*args, **kwargs):
        count["n"] += 1
        reply = original(*args, **kwargs)  # consumed either way: the simulator's buffer stays in step
        return fault() if count["n"] >= calls else reply

    resource.read = read


def _timeout():
    raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)


FAULTS = {
    "timeout": (_timeout, "VisaIOError"),
    "garbage": (lambda: "#?!", "answered '#?!', not a number"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_at_the_wire_stops_the_run_with_the_reason_and_the_station_safe(tmp_path, fault):
    station = Station.from_file(LAB_SIM)
    station_, procedure_file = load(CONFIGS / "procedures" / "fig3_bias_loop.yaml", station)
    make_fault, expected = FAULTS[fault]
    _fault_after(station.squid.lockin.adapter.connection, 60, make_fault)
    runner, store = start_run(station, procedure_file, tmp_path / "fault.h5")
    outcome = runner.join()
    store.close()
    assert outcome.status == "failed" and expected in outcome.error
    steps = read_steps(tmp_path / "fault.h5")
    failed = [step for step in steps if step.status == "failed"]
    assert len(failed) == 1 and expected in failed[0].error
    assert outcome.safe_state_failures == []
    assert station.current_source.read_current() == 0.0 and not station.current_source.output_enabled()


def test_an_invalid_temperature_reading_stops_the_run_and_switches_the_heater_off(tmp_path):
    station = Station.from_file(LAB_SIM)
    connection = station.temperature.controller.adapter.connection
    original_write, original_read = connection.write, connection.read
    last = {"command": ""}

    def write(command, *args, **kwargs):
        last["command"] = command
        return original_write(command, *args, **kwargs)

    def read(*args, **kwargs):
        reply = original_read(*args, **kwargs)
        return "001" if last["command"].startswith("RDGST?") else reply  # sensor reports "invalid"

    connection.write, connection.read = write, read
    _, procedure_file = load(CONFIGS / "procedures" / "fig3_bias_loop.yaml", station)
    runner, store = start_run(station, procedure_file, tmp_path / "sensor.h5")
    outcome = runner.join()
    store.close()
    assert outcome.status in ("failed", "aborted") and "invalid reading" in outcome.error
    connection.write, connection.read = original_write, original_read
    assert station.temperature.controller.adapter.connection.query("RANGE? 1").strip() == "0"  # heater off


def test_the_example_lab_station_is_complete_and_names_known_drivers():
    from sqm.drivers.backend import DRIVERS, OPTIONAL_ROLE_NAMES, ROLE_NAMES
    from sqm.limits import StationLimits

    data = yaml.safe_load((CONFIGS / "stations" / "lab-example.yaml").read_text())
    assert data["backend"] == "hardware"
    StationLimits.from_mapping(data["limits"])  # valid limits
    required = set(ROLE_NAMES) - set(OPTIONAL_ROLE_NAMES)  # the optional ones are commented examples
    assert set(data["hardware"]) >= required and set(OPTIONAL_ROLE_NAMES) >= {"squid_bias"}
    assert all(data["hardware"][role]["driver"] in DRIVERS for role in required)
    # (not opened here: its instruments are not on this machine's network)
