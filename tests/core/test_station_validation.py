"""One validation of a station file: `sqm check --station FILE` refuses exactly what
`sqm run --station FILE` refuses, with one line naming the file, the key and the value,
for the twin's `sim:` block, a hardware station's `hardware:` block (checked without
opening any instrument), the limits and the interlocks."""

from __future__ import annotations

import importlib.metadata
import math
import random

import pytest
import yaml

from sqm.cli import main
from sqm.errors import UserInputError
from sqm.interlocks import InterlockSet
from sqm.limits import StationLimits
from sqm.station import DEFAULT_STATION, Station, read_station_limits

from ..conftest import CONFIGS

LAB_EXAMPLE = CONFIGS / "stations" / "lab-example.yaml"
LAB_SIM = CONFIGS / "stations" / "lab-pyvisa-sim.yaml"  # the real drivers over pyvisa-sim
TINY_PROCEDURE = "steps:\n  - set: {bias_current: 0}\n"
NAN, INF = math.nan, math.inf


@pytest.fixture
def no_instrument(monkeypatch):
    """Loading the hardware backend's builder or opening VISA fails the test: validation
    opens nothing (the twin `sqm check` dry-runs on may still be built)."""
    load = importlib.metadata.EntryPoint.load

    def refuse_hardware(self, *args, **kwargs):
        if self.group == "sqm.backends" and self.name != "sim":
            raise AssertionError(f"the backend {self.name!r} was loaded")
        return load(self, *args, **kwargs)

    monkeypatch.setattr(importlib.metadata.EntryPoint, "load", refuse_hardware)
    import pyvisa

    monkeypatch.setattr(pyvisa, "ResourceManager", lambda *a, **k: pytest.fail("a VISA resource manager was opened"))


def _with(base, dotted_key: str, value) -> dict:
    """The station file `base` as data, with the value at `dotted_key` replaced (or added)."""
    data = yaml.safe_load(base.read_text())
    *parents, last = dotted_key.split(".")
    block = data
    for parent in parents:
        block = block[parent]
    block[last] = value
    return data


def _write_station(tmp_path, data: dict, name: str = "station.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _sqm(capsys, tmp_path, command: str, station) -> tuple[int, str]:
    """Exit status and stderr of `sqm check|run TINY --station station`."""
    procedure = tmp_path / "tiny.yaml"
    procedure.write_text(TINY_PROCEDURE)
    arguments = [command, str(procedure), "--station", str(station)]
    if command == "run":
        arguments += ["--out", str(tmp_path / "out")]
    status = main(arguments)
    return status, capsys.readouterr().err


def _assert_refused_in_one_line(status: int, err: str, station, key: str) -> None:
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"sqm: error: {station}: "), err
    assert key in lines[0], err
    assert "Traceback" not in err


# --- the table: each bad variant is refused by check and by run alike ------------------

TWIN_VARIANTS = [
    # (dotted key, bad value, what the message must name)
    ("sim.flux_noise", "10 Hz", "sim.flux_noise: cannot read '10 Hz' as a flux noise density"),
    ("sim.flux_noise", -1e-6, "sim.flux_noise"),
    ("sim.flux_noise_corner", "3 K", "sim.flux_noise_corner"),
    ("sim.base_temperature", "-1 K", "sim.base_temperature"),
    ("sim.thermal_time_constant", "-30 s", "sim.thermal_time_constant"),
    ("sim.scan_height", INF, "sim.scan_height"),
    ("sim.seed", -5, "sim.seed"),
    ("sim.pace", "1e-9", "sim.pace"),
    ("sim.sample", ["film"], "sim.sample"),
    ("sim.colour", "red", "sim: unknown setting 'colour'"),
    ("limits.scanner.z", [NAN, "10 um"], "limits.scanner.z"),
    ("limits.field.max_abs", INF, "limits.field.max_abs"),
    ("limits.temperature.max", NAN, "limits.temperature.max"),
    ("limits.bias_current.ramp_rate", "-1 uA/s", "limits.bias_current"),
    ("limits.field.tolernce", "1 mG", "limits.field: unknown setting(s) tolernce"),
    ("interlocks", 3, "interlocks: must be a mapping"),
    ("interlocks", [1, 2], "interlocks: must be a mapping"),
    ("interlocks", True, "interlocks: must be a mapping"),  # `interlocks: on`
    ("interlocks.temperature_max", "abc", "interlocks.temperature_max: cannot read 'abc' as a temperature"),
    ("interlocks.temperature_max", "1 K", "interlocks.temperature_max: '1 K' is not above limits.temperature.min"),
    ("interlocks.temperature_max", NAN, "interlocks.temperature_max"),
    ("interlocks.interval", "1e300 s", "interlocks.interval: '1e300 s'"),
    ("interlocks.interval", "-5 s", "interlocks.interval: '-5 s'"),
    ("interlocks.interval", "1 uA", "interlocks.interval: cannot read '1 uA' as an interval"),
    ("interlocks.squid_lock", "maybe", "interlocks.squid_lock: must be true or false, got 'maybe'"),
    ("interlocks.magnet_quench", 1, "interlocks.magnet_quench"),
    ("interlocks.action", "stop", "interlocks.action: must be 'abort' or 'pause', got 'stop'"),
    ("interlocks.colour", "red", "interlocks: unknown setting(s) colour"),
]

HARDWARE_VARIANTS = [
    ("hardware.voltmeter.line_frequency", 1e30, "hardware.voltmeter.line_frequency: 1e+30"),
    ("hardware.voltmeter.line_frequency", "50 V", "hardware.voltmeter.line_frequency: cannot read '50 V'"),
    ("hardware.voltmeter.voltage_range", "-1 V", "hardware.voltmeter.voltage_range"),
    ("hardware.voltmeter.colour", 1, "hardware.voltmeter: unknown setting(s) colour"),
    ("hardware.current_source.compliance", "500 V", "hardware.current_source.compliance: '500 V'"),
    ("hardware.current_source.timeout", "1e300 s", "hardware.current_source.timeout"),
    ("hardware.current_source.address", 12, "hardware.current_source.address"),
    ("hardware.magnet.coil_constant", "abc", "hardware.magnet.coil_constant"),
    ("hardware.magnet.current_limit", NAN, "hardware.magnet.current_limit"),
    ("hardware.magnet.max_ramp_rate", "3 K", "hardware.magnet.max_ramp_rate"),
    ("hardware.magnet.switch_heater_wait", "-10 s", "hardware.magnet.switch_heater_wait"),
    ("hardware.temperature.loop", 3, "hardware.temperature.loop: must be one of 1, 2, got 3"),
    ("hardware.temperature.input", "E", "hardware.temperature.input"),
    ("hardware.temperature.heater_range", True, "hardware.temperature.heater_range"),
    ("hardware.scanner.cold", "yes", "hardware.scanner.cold: must be true or false"),
    ("hardware.scanner.piezo_speed", "20 um", "hardware.scanner.piezo_speed"),
    ("hardware.scanner.axes.x.meters_per_volt", NAN, "hardware.scanner.axes.x.meters_per_volt"),
    ("hardware.scanner.axes.z.cold_volts", [-20, 10], "hardware.scanner.axes.z.cold_volts"),
    ("hardware.scanner.axes.w", {}, "hardware.scanner.axes: unknown setting(s) w"),
    ("hardware.scanner.axes.y.channel", "ao0", "hardware.scanner.axes: each axis needs its own AO channel"),
    ("hardware.scanner.axes.x.channel", "Dev2/ao0", "hardware.scanner.axes.x.channel: not on device 'Dev1'"),
    ("hardware.squid.input_range", "5 V", "hardware.squid.unlock_threshold: '9.5 V' is above the input range 5 V"),
    ("hardware.squid.phi0_per_volt", 0, "hardware.squid.phi0_per_volt"),
    ("hardware.squid.unlock_threshold", "20 V", "hardware.squid.unlock_threshold"),
    ("hardware.squid.driver", "squid9000", "hardware.squid: unknown driver 'squid9000'"),
    ("hardware.voltmeter", "keithley2182", "hardware.voltmeter: give a mapping with a 'driver'"),
    ("hardware.clock", "fast", "hardware.clock"),
    ("hardware.visa_library", ["@py"], "hardware.visa_library"),
    ("hardware.visa_library", "missing.yaml@sim", "hardware.visa_library"),
    ("hardware.telescope", {"driver": "keithley2182"}, "hardware: unknown setting(s) telescope"),
    ("interlocks.interval", "2 min", "interlocks.interval"),
]


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("key, value, message", TWIN_VARIANTS, ids=[f"{k}={v!r}" for k, v, _ in TWIN_VARIANTS])
def test_a_bad_twin_station_is_refused_by_check_and_run_in_one_line(tmp_path, capsys, command, key, value, message):
    station = _write_station(tmp_path, _with(DEFAULT_STATION, key, value))
    status, err = _sqm(capsys, tmp_path, command, station)
    _assert_refused_in_one_line(status, err, station, message)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.h5"))  # nothing ran


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("key, value, message", HARDWARE_VARIANTS,
                         ids=[f"{k}={v!r}" for k, v, _ in HARDWARE_VARIANTS])
def test_a_bad_hardware_station_is_refused_without_opening_an_instrument(
    tmp_path, capsys, no_instrument, command, key, value, message
):
    station = _write_station(tmp_path, _with(LAB_EXAMPLE, key, value))
    status, err = _sqm(capsys, tmp_path, command, station)
    _assert_refused_in_one_line(status, err, station, message)


@pytest.mark.parametrize("command", ["check", "run"])
def test_anc300_axes_sharing_a_slot_are_refused_before_anything_opens(tmp_path, capsys, no_instrument, command):
    station = _write_station(tmp_path, _with(LAB_SIM, "hardware.scanner.axes.x.axis", 5))  # y is slot 5 too
    status, err = _sqm(capsys, tmp_path, command, station)
    _assert_refused_in_one_line(status, err, station, "hardware.scanner: each fine and coarse axis needs its own")


def test_every_driver_has_its_settings_checked():
    from sqm.drivers.backend import DRIVER_SETTINGS, DRIVERS

    assert set(DRIVER_SETTINGS) == set(DRIVERS)


def test_the_shipped_stations_pass_check_without_opening_an_instrument(tmp_path, capsys, no_instrument):
    for station in sorted((CONFIGS / "stations").glob("*.yaml")):
        status, err = _sqm(capsys, tmp_path, "check", station)
        assert status == 0, err


VALID_TWIN_VARIANTS = [
    ("interlocks", {"temperature_max": "9 K", "interval": "0.5 s"}),
    ("interlocks", {"squid_lock": False, "magnet_quench": False, "action": "pause", "interval": "60 s"}),
    ("interlocks", None),  # `interlocks:` left empty: the default watches
    ("sim.flux_noise", "2 uPhi0/Hz^0.5"),
    ("sim.flux_noise", "2 uPhi0"),  # per root hertz implied, as the docstring writes it
    ("sim.pace", None),
]


@pytest.mark.parametrize("key, value", VALID_TWIN_VARIANTS, ids=[f"{k}={v!r}" for k, v in VALID_TWIN_VARIANTS])
def test_valid_twin_variants_pass_check_and_run(tmp_path, capsys, key, value):
    station = _write_station(tmp_path, _with(DEFAULT_STATION, key, value))
    for command in ("check", "run"):
        status, err = _sqm(capsys, tmp_path, command, station)
        assert status == 0, err


def test_a_valid_hardware_variant_passes_check(tmp_path, capsys, no_instrument):
    data = _with(LAB_EXAMPLE, "interlocks", {"temperature_max": "9 K", "interval": "0.5 s"})
    data["hardware"]["voltmeter"]["line_frequency"] = "60 Hz"
    status, err = _sqm(capsys, tmp_path, "check", _write_station(tmp_path, data))
    assert status == 0, err


# --- the interlocks as the header builds them --------------------------------------------


def test_the_station_keeps_the_interlocks_it_validated():
    data = _with(DEFAULT_STATION, "interlocks", {"temperature_max": "9 K", "interval": "0.5 s", "action": "pause"})
    station = Station.from_text(yaml.safe_dump(data), source="twin.yaml")
    assert station.interlocks.interval == 0.5
    assert [(interlock.name, interlock.action) for interlock in station.interlocks.interlocks] == [
        ("temperature_ceiling", "pause"), ("squid_lock", "pause"), ("magnet_quench", "abort")
    ]
    assert station.interlocks.interlocks[0].maximum == 9.0


def test_a_non_interactive_run_gets_aborts_instead_of_pauses():
    config = {"temperature_max": "9 K", "action": "pause"}
    for interlocks in (InterlockSet.from_config(config, interactive=False),
                       InterlockSet.from_config(config).without_pauses()):
        assert {interlock.action for interlock in interlocks.interlocks} == {"abort"}
    assert InterlockSet.from_config(config).interlocks[0].action == "pause"  # the original is unchanged


def test_interlock_errors_name_the_key_without_a_source():
    limits = StationLimits.from_mapping(yaml.safe_load(DEFAULT_STATION.read_text())["limits"])
    with pytest.raises(UserInputError, match=r"^interlocks\.temperature_max: cannot read 'abc' as a temperature"):
        InterlockSet.from_config({"temperature_max": "abc"}, limits)


def test_read_station_limits_refuses_the_backend_block_too(tmp_path):
    station = _write_station(tmp_path, _with(DEFAULT_STATION, "sim.flux_noise", "10 Hz"))
    with pytest.raises(UserInputError, match=rf"^{station}: sim\.flux_noise: "):
        read_station_limits(station)


# --- the fuzz: check and run agree on ~150 mutated twin stations -------------------------

BAD_VALUES = [
    "10 Hz", "3 K", "5 uA", "2 um", "1 s", "7 G", "1 uPhi0",  # wrong (or right) units
    NAN, INF, -INF, ".nan", "inf K",  # not finite
    1e30, "1e30 s", 10**400,  # huge
    -5, "-5 s", -1e-6,  # negative
    "abc", "", "maybe",  # strings
    [1, 2], [], ["a"],  # lists
    True, False, None,  # booleans, nothing
    {"a": 1},  # a mapping
]


def _leaf_paths(data, prefix=()) -> list[tuple]:
    """Every path to a value in nested mappings and lists (the blocks themselves too)."""
    paths = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        paths.append(prefix + (key,))
        paths += _leaf_paths(value, prefix + (key,))
    return paths


def _mutated(data, path: tuple, value):
    copy = yaml.safe_load(yaml.safe_dump(data))
    block = copy
    for key in path[:-1]:
        block = block[key]
    block[path[-1]] = value
    return copy


def _fuzz(tmp_path, capsys, base_file, seed: int, count: int, top_keys=None) -> list[str]:
    """Mutate one value of `base_file` `count` times; check and run each variant.

    Asserts no traceback and a check status of 0 or 2 (a refusal in one line naming the
    file, the same line as run's); returns the variants check and run disagree on.
    """
    rng = random.Random(seed)
    base = yaml.safe_load(base_file.read_text())
    paths = [path for path in _leaf_paths(base) if top_keys is None or path[0] in top_keys]
    disagreements = []
    for index in range(count):
        path, value = rng.choice(paths), rng.choice(BAD_VALUES)
        station = _write_station(tmp_path, _mutated(base, path, value), f"fuzz{index}.yaml")
        check_status, check_err = _sqm(capsys, tmp_path, "check", station)
        run_status, run_err = _sqm(capsys, tmp_path, "run", station)
        case = f"{'.'.join(map(str, path))} = {value!r}"
        assert "Traceback" not in check_err + run_err, case
        assert check_status in (0, 2), f"{case}: check {check_status}: {check_err}"
        if (check_status == 2) != (run_status == 2):
            disagreements.append(f"{case}: check {check_status} ({check_err.strip()}), run {run_status} "
                                 f"({run_err.strip()})")
        elif check_status == 2:
            assert len(check_err.strip().splitlines()) == 1 and str(station) in check_err, case
            assert check_err == run_err, case  # the same one line from the same validation
    return disagreements


def test_fuzzed_twin_stations_check_and_run_agree_and_never_trace_back(tmp_path, capsys):
    assert _fuzz(tmp_path, capsys, DEFAULT_STATION, seed=20231, count=150) == []


@pytest.mark.filterwarnings("ignore::UserWarning")  # pymeasure's termination warnings on a mutated address
def test_fuzzed_hardware_stations_check_and_run_agree(tmp_path, capsys):
    # the real drivers over pyvisa-sim: a run opens (simulated) instruments, so it sees
    # every check a driver makes before and while opening; `sqm check` must refuse the same
    assert _fuzz(tmp_path, capsys, LAB_SIM, seed=336, count=80, top_keys={"hardware"}) == []
