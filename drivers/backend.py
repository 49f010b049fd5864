"""The `hardware` backend: real instruments behind the roles, from a station file.

    backend: hardware
    hardware:
      visa_library: "@py"            # or "drivers/sim/lab.yaml@sim" for pyvisa-sim
      current_source: {driver: keithley6221, address: "GPIB0::12::INSTR", ...}
      voltmeter: {driver: keithley2182, address: "GPIB0::7::INSTR"}
      magnet: {driver: ami430, address: "TCPIP::magnet::7180::SOCKET", ...}
      temperature: {driver: lakeshore336, address: "GPIB0::13::INSTR", ...}
      scanner: {driver: nidaq_scanner, ...}
      squid: {driver: nidaq_fll, ...}
      touchdown: {driver: sr830_touchdown, address: "GPIB0::9::INSTR", ...}   # optional role
      squid_bias: {driver: nidaq_squid_bias, ...}   # optional role (or squid_bias_pair)

Adapters are looked up by the `driver` name in DRIVERS and imported only when used,
so a station that does not use the NI-DAQ never imports nidaqmx. `validate_config`
checks the block against DRIVER_SETTINGS without importing any driver or opening
anything (`sqm check` runs it; so does `build_backend`, before it opens an instrument).
A driver is registered by its one entry in DRIVER_SETTINGS (its adapter class, role
and settings); DRIVERS is derived from it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqm.clock import Clock, RealClock, SimulatedClock
from sqm.errors import InstrumentError, UserInputError
from sqm.limits import PlausibleRange, StationLimits, refuse_unknown_keys, shown
from sqm.role_list import ROLES
from sqm.station import Backend

from .base import HardwareContext, VisaPackageMissing

CLOCKS = {"real": RealClock, "simulated": SimulatedClock}  # simulated: pyvisa-sim stations only
ROLE_NAMES = tuple(entry.name for entry in ROLES)  # the role list (sqm/role_list.py)
OPTIONAL_ROLE_NAMES = tuple(entry.name for entry in ROLES if not entry.required)  # may be left out
SIM_FOLDER = Path(__file__).resolve().parent / "sim"


def _adapter_class(name: str):
    if name not in DRIVERS:
        raise UserInputError(f"unknown driver {name!r} (known: {', '.join(sorted(DRIVERS))})")
    module_name, class_name = DRIVERS[name].split(":")
    try:
        module = importlib.import_module(f"{__package__}.{module_name}")
    except ImportError as error:
        raise UserInputError(
            f"driver {name!r} needs the hardware extra (pip install -e '.[hardware]'): {error}"
        ) from None
    return getattr(module, class_name)


def _visa_library(value: str) -> str:
    """Relative pyvisa-sim files are found in drivers/sim/."""
    if value.endswith("@sim") and value != "@sim":
        path = Path(value[: -len("@sim")])
        if not path.is_absolute():
            path = SIM_FOLDER / path
        return f"{path}@sim"
    return value


def validate_config(config: dict, limits: StationLimits) -> None:
    """Check a station file's `hardware:` block without opening or configuring anything.

    Every role's block is checked against its driver's settings (DRIVER_SETTINGS): known keys,
    required keys, types, units and physically sane ranges (a 1e30 Hz mains, a 500 V
    compliance are refused). Errors are one UserInputError naming the dotted key and
    the value (`hardware.voltmeter.line_frequency: ...`); the station adds the file.
    What only an instrument can tell (its model, its present state) is checked when it
    is opened.
    """
    if not isinstance(config, dict):
        raise UserInputError(f"hardware: must be a mapping of roles to drivers, got {shown(config)}")
    refuse_unknown_keys("hardware", config, ("visa_library", "clock", *ROLE_NAMES))
    clock_kind = config.get("clock", "real")
    if not isinstance(clock_kind, str) or clock_kind not in CLOCKS:
        raise UserInputError(f"hardware.clock: must be one of {', '.join(CLOCKS)}, got {shown(clock_kind)}")
    _check_visa_library(config.get("visa_library", ""))
    for role_name in role_names(config):
        _check_role_block(role_name, config.get(role_name))
    _daq_channels_used_once(config)


def role_names(config: dict) -> tuple[str, ...]:
    """The roles the block fills: every required role, and the optional ones it gives."""
    return tuple(name for name in ROLE_NAMES if name not in OPTIONAL_ROLE_NAMES or name in config)


def build_backend(config: dict, limits: StationLimits, tolerant: bool = False, clock: Clock | None = None) -> Backend:
    """Open every instrument of the `hardware:` block and wrap it in its role.

    The block is checked first (validate_config), so nothing is opened for a bad one.
    `clock: simulated` is for pyvisa-sim stations only: the simulated instruments have
    no dynamics and no time, so the station's waits pass at once.
    `tolerant`: an instrument that does not answer is listed in Backend.failures
    instead of refusing the whole station (for `sqm instruments`).
    """
    validate_config(config, limits)
    if clock is None:  # an emulated station brings the lab time its instruments run on
        clock = CLOCKS[config.get("clock", "real")]()
    context = HardwareContext(_visa_library(config.get("visa_library", "")), clock)
    roles, failures = {}, {}
    try:
        for role_name in role_names(config):
            block = dict(config[role_name])
            adapter_class = _adapter_class(block["driver"])
            remote = _remote(block.pop("remote", None), role_name)
            try:
                roles[role_name] = adapter_class.from_config(block, context if remote is None
                                                             else context.for_remote(remote))
                if remote is not None:
                    roles[role_name].location = remote.describe()
            except ImportError as error:  # pymeasure/pyvisa are the hardware extra
                raise UserInputError(
                    f"hardware.{role_name}: needs the hardware extra (pip install -e '.[hardware]'): {error}"
                ) from None
            except VisaPackageMissing as error:  # the station's library, whichever role first needs it
                raise UserInputError(f"hardware.visa_library {error}") from None
            except UserInputError as error:
                raise UserInputError(f"hardware.{role_name}: {error}") from None
            except InstrumentError as error:
                if not tolerant:
                    raise InstrumentError(f"hardware.{role_name}: {error}") from None
                failures[role_name] = str(error)
    except BaseException:
        context.close()
        raise
    return Backend(kind="hardware", roles=roles, clock=context.clock, close=context.close, failures=failures)


# --- the settings of each driver, checked without importing it ---------------------------
#
# A check is called as check(value, key) with the dotted key of the value, and raises
# one UserInputError naming that key. The drivers check the same settings again when
# they are built (and what depends on the instrument when they connect).

Check = Callable[[object, str], None]


@dataclass(frozen=True)
class Setting:
    check: Check
    required: bool = False


def _keyed(test: Callable[[object], object]) -> Check:
    """A check from a test of the value alone (raising UserInputError without the key)."""
    def check(value: object, key: str) -> None:
        try:
            test(value)
        except UserInputError as error:
            raise UserInputError(f"{key}: {error}") from None
    return check


def quantity(plausible: PlausibleRange, required: bool = False) -> Setting:
    return Setting(_keyed(plausible.read), required)


def choice(*allowed: object, required: bool = False) -> Setting:
    def test(value: object) -> None:
        if isinstance(value, bool) or value not in allowed:
            raise UserInputError(f"must be one of {', '.join(map(str, allowed))}, got {shown(value)}")
    return Setting(_keyed(test), required)


def _flag(value: object) -> None:
    if not isinstance(value, bool):
        raise UserInputError(f"must be true or false, got {shown(value)}")


def _text(value: object) -> None:
    if not (isinstance(value, str) and value.strip()):
        raise UserInputError(f"must be text such as 'GPIB0::7::INSTR', got {shown(value)}")


def _device_name(value: object) -> None:
    if not (isinstance(value, str) and value.strip()) or "/" in value:
        raise UserInputError(f"must be an NI-DAQmx device name such as 'Dev1', got {shown(value)}")


def _password(value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise UserInputError(f"must be text, got {shown(value)}")


def _text_or_nothing(value: object) -> None:
    if value is not None:
        _text(value)


REQUIRED_FLAG, REQUIRED_TEXT = Setting(_keyed(_flag), True), Setting(_keyed(_text), True)


def span(plausible: PlausibleRange, required: bool = False) -> Setting:
    """[low, high], each inside `plausible`, low < high."""
    def test(value: object) -> None:
        if not (isinstance(value, list) and len(value) == 2):
            raise UserInputError(f"must be [min, max] in {plausible.unit}, got {shown(value)}")
        low, high = (plausible.read(end) for end in value)
        if not low < high:
            raise UserInputError(f"{shown(value)} must have its minimum below its maximum")
    return Setting(_keyed(test), required)


def either(word: str, setting: Setting) -> Setting:
    """`word` (e.g. 'auto'), or what `setting` accepts."""
    def check(value: object, key: str) -> None:
        if value != word:
            setting.check(value, key)
    return Setting(check, setting.required)


def mapping(settings: dict[str, Setting], required: bool = False) -> Setting:
    """A nested block (the axes of a scanner), checked key by key."""
    return Setting(lambda value, key: check_block(value, settings, key), required)


def check_block(block: object, settings: dict[str, Setting], where: str) -> None:
    """Refuse unknown keys, missing required ones and bad values of `block` (at `where`)."""
    if not isinstance(block, dict):
        raise UserInputError(f"{where}: must be a mapping, got {shown(block)}")
    refuse_unknown_keys(where, block, settings)
    for key, setting in settings.items():
        if key in block:
            setting.check(block[key], f"{where}.{key}")
        elif setting.required:
            raise UserInputError(f"{where}.{key}: missing (the driver needs it)")


def _positive(what: str, unit: str, high: float, example: str, required: bool = False) -> Setting:
    return quantity(PlausibleRange(what, unit, 0.0, high, example, above_low=True), required)


def _calibration(what: str, unit: str, high: float, example: str) -> Setting:
    """A signed, non-zero calibration (m/V, Phi0/V), required."""
    return quantity(PlausibleRange(what, unit, 0.0, high, example, above_low=True, magnitude=True), required=True)


TIMEOUT = _positive("timeout", "time", 600.0, "5 s")
PICKUP_RADIUS = _positive("pickup radius", "length", 100e-6, "0.5 um", required=True)
PIEZO_SPEED = _positive("piezo speed", "m/s", 1e-3, "20 um/s", required=True)
METERS_PER_VOLT = _calibration("calibration", "m/V", 1e-3, "5 um/V")
PHI0_PER_VOLT = _calibration("calibration", "Phi0/V", 1e3, "0.25 Phi0/V")
SAMPLE_RATE = PlausibleRange("sample rate", "frequency", 0.0, 10e6, "10 kHz", above_low=True)
INPUT_RANGE = PlausibleRange("input range", "voltage", 0.0, 10.0, "10 V", above_low=True)
UNLOCK_THRESHOLD = PlausibleRange("unlock threshold", "voltage", 0.0, 10.0, "9.5 V", above_low=True)
# V at the voltmeter or DAQ input per V across the SQUID; negative for an inverting preamp
PREAMP_GAIN = PlausibleRange("preamp gain", "dimensionless", 0.0, 1e6, "1000", above_low=True, magnitude=True)


def _driver_block(role_name: str) -> Setting:
    """A nested driver's block (a SQUID bias's source or voltmeter), required, checked as the
    same driver's block is as the station's `role_name` role."""
    return Setting(lambda value, key: check_driver_block(value, role_name, key), required=True)


def _piezo_axes(volts: PlausibleRange, output: dict[str, Setting], center_required: bool,
                surface_required: bool, z_zero: bool = False) -> Setting:
    """x, y and z of a scanner: where each is driven (`output`), its calibration, its
    voltage limits, and its voltage at position 0 (center_volts for x and y, surface_volts for z;
    with `z_zero`, z may give zero_volts, its position 0, apart from the surface's)."""
    common = {**output, "meters_per_volt": METERS_PER_VOLT,
              "warm_volts": span(volts, required=True), "cold_volts": span(volts, required=True)}
    lateral = mapping({**common, "center_volts": quantity(volts, center_required)}, required=True)
    height_settings = {**common, "surface_volts": quantity(volts, surface_required)}
    if z_zero:
        height_settings["zero_volts"] = quantity(volts)
    height = mapping(height_settings, required=True)
    return mapping({"x": lateral, "y": lateral, "z": height}, required=True)


ANC300_SLOT = choice(*range(1, 8), required=True)  # the seven module slots
ANC300_VOLTS = PlausibleRange("offset voltage", "voltage", 0.0, 150.0, "70 V")
NIDAQ_VOLTS = PlausibleRange("output voltage", "voltage", -10.0, 10.0, "0 V")
# The optional settings of an SR830 lock-in, applied on connection (the SR830's own ranges).
SR830_LOCKIN_SETTINGS = {
    "time_constant": quantity(PlausibleRange("time constant", "time", 10e-6, 30e3, "100 ms")),
    "sensitivity": quantity(PlausibleRange("sensitivity", "voltage", 2e-9, 1.0, "1 mV")),
    "frequency": quantity(PlausibleRange("frequency", "frequency", 1e-3, 102e3, "1 kHz")),
    "amplitude": quantity(PlausibleRange("amplitude", "voltage", 0.004, 5.0, "1 V")),
    "phase": quantity(PlausibleRange("phase", "degree", -360.0, 729.99, "0 degree")),
}

@dataclass(frozen=True)
class DriverSettings:
    """A registered driver: its adapter class, and what its block may hold (the `driver`
    key itself is always allowed)."""

    adapter: str  # "module:Class" inside sqm.drivers, imported only when a station uses it
    role: str  # the role it fills
    settings: dict[str, Setting]
    # checks across settings, called as check(block, where) once every setting is valid
    across: tuple[Callable[[dict, str], None], ...] = ()
    # the dotted keys of the NI-DAQ channels of `device` the block names (used by one role each)
    daq_channels: tuple[str, ...] = ()


def _anc300_coarse_z(block: dict, where: str) -> None:
    # a nominal coarse z step without the positioner to make it would promise a coarse approach
    if "coarse_z_step" in block and "z" not in block.get("coarse_axes", {}):
        raise UserInputError(f"{where}.coarse_z_step: needs coarse_axes.z, the slot of the coarse z positioner")


def _distinct_anc300_slots(block: dict, where: str) -> None:
    # stepping a fine axis would drop its offset: the piezo would jump
    slots = [block["axes"][axis]["axis"] for axis in ("x", "y", "z")] + list(block.get("coarse_axes", {}).values())
    if len(set(slots)) != len(slots):
        raise UserInputError(f"{where}: each fine and coarse axis needs its own ANC300 slot, got {slots}")


def _local_channel(block: dict, path: str, where: str) -> str:
    """The channel at dotted `path` of an NI-DAQ block ('ao0' of 'Dev1/ao0'), refused when it
    names another device than the block's (the start trigger and the readback channels are
    per device)."""
    value: Any = block
    for key in path.split("."):  # present and text: the block's settings are checked first
        value = value[key]
    owner, _, local = str(value).strip().lstrip("/").rpartition("/")
    if owner and owner != block["device"].strip():
        raise UserInputError(f"{where}.{path}: not on device {block['device'].strip()!r}")
    return local


def _distinct_daq_channels(block: dict, where: str) -> None:
    channels = [_local_channel(block, f"axes.{axis}.channel", where) for axis in ("x", "y", "z")]
    if len(set(channels)) != len(channels):
        raise UserInputError(f"{where}.axes: each axis needs its own AO channel, got {', '.join(channels)}")


def _squid_bias_daq_channels(block: dict, where: str) -> None:
    # a bias written to an input, or a voltage read from an output, fails only at the card
    for key, kind in (("output", "ao"), ("input", "ai")):
        if not re.fullmatch(rf"{kind}\d+", _local_channel(block, key, where)):
            raise UserInputError(f"{where}.{key}: expected an {kind.upper()} channel such as '{kind}0', "
                                 f"got {shown(block[key])}")


def _daq_channels_used_once(config: dict) -> None:
    """No NI-DAQ channel serves two roles (a SQUID bias on the z piezo's output would drive
    both): each channel a block names (DriverSettings.daq_channels) is refused when an
    earlier block on the same device names it too."""
    taken: dict[tuple[str, str], str] = {}
    for role_name in role_names(config):
        block = config[role_name]
        for path in DRIVER_SETTINGS[block["driver"]].daq_channels:
            where = f"hardware.{role_name}.{path}"
            channel = (block["device"].strip(), _local_channel(block, path, f"hardware.{role_name}"))
            if channel in taken:
                raise UserInputError(f"{where}: {'/'.join(channel)} is already {taken[channel]}; "
                                     "one channel cannot serve two roles")
            taken[channel] = where


def _unlock_within_input_range(block: dict, where: str) -> None:
    input_range = INPUT_RANGE.read(block.get("input_range", 10.0))
    if UNLOCK_THRESHOLD.read(block.get("unlock_threshold", 9.5)) > input_range:
        raise UserInputError(
            f"{where}.unlock_threshold: {shown(block.get('unlock_threshold', 9.5))} is above the input range "
            f"{input_range:g} V: a threshold the input cannot reach never sees an unlock"
        )


def _visa_current_source(adapter: str, low: float, high: float, why: str) -> DriverSettings:
    """A current source on a VISA address with a voltage compliance in [low, high] V."""
    compliance = quantity(PlausibleRange("compliance", "voltage", low, high, "2 V", why=why))
    settings = {"address": REQUIRED_TEXT, "compliance": compliance, "timeout": TIMEOUT}
    return DriverSettings(adapter, "current_source", settings)


# One entry per driver, the registry: driver name -> its adapter and settings.
DRIVER_SETTINGS: dict[str, DriverSettings] = {
    "keithley6221": _visa_current_source("keithley:Keithley6221Source", 0.1, 105.0, "the 6221's range"),
    "yokogawa_gs200": _visa_current_source("yokogawa_gs200:YokogawaGS200Source", 1.0, 30.0, "the GS200's range"),
    "keithley2182": DriverSettings("keithley:Keithley2182Voltmeter", "voltmeter", {
        "address": REQUIRED_TEXT,
        # integration times are counted in line cycles; the 2182A knows only 50 and 60 Hz mains
        "line_frequency": quantity(PlausibleRange("line frequency", "frequency", 45.0, 65.0, "50 Hz",
                                                  why="mains is 50 or 60 Hz")),
        "voltage_range": either("auto", _positive("voltage range", "voltage", 120.0, "10 mV")),
        "timeout": TIMEOUT,
    }),
    "ami430": DriverSettings("ami430:AMI430Magnet", "magnet", {
        "address": REQUIRED_TEXT,
        "coil_constant": _positive("coil constant", "T/A", 10.0, "0.118 T/A", required=True),
        "current_limit": _positive("current limit", "current", 1000.0, "50 A", required=True),
        "max_ramp_rate": quantity(PlausibleRange("ramp rate", "current_rate", 0.0, 100.0, "0.036 A/s", above_low=True,
                                                 alternative_unit="field_rate"), required=True),
        "switch_heater_wait": quantity(PlausibleRange("switch heater wait", "time", 0.0, 600.0, "10 s")),
        "switch_current_tolerance": _positive("current tolerance", "current", 1.0, "5 mA"),
        "welcome_lines": choice(*range(11)),
        "timeout": TIMEOUT,
    }),
    "lakeshore336": DriverSettings("lakeshore336:LakeShore336Temperature", "temperature", {
        "address": REQUIRED_TEXT,
        "input": choice("A", "B", "C", "D"),
        "loop": choice(1, 2),
        "heater_range": choice(0, 1, 2, 3),
        "ceiling": _positive("temperature ceiling", "temperature", 400.0, "12 K"),
        "timeout": TIMEOUT,
    }),
    "sr830_squid": DriverSettings("sr830:SR830SquidReadout", "squid", {
        "address": REQUIRED_TEXT,
        "flux_input": choice(1, 2, 3, 4),
        "phi0_per_volt": PHI0_PER_VOLT,
        "phi0_per_volt_lockin": PHI0_PER_VOLT,
        "field_coil_current": _positive("field coil current", "current", 1.0, "2 mA", required=True),
        "pickup_radius": PICKUP_RADIUS,
        "unlock_threshold": _positive("unlock threshold", "voltage", 10.5, "9.5 V", required=True),
        "timeout": TIMEOUT,
        **SR830_LOCKIN_SETTINGS,
    }),
    "sr830_touchdown": DriverSettings("sr830:SR830TouchdownSensor", "touchdown", {
        "address": REQUIRED_TEXT,
        "output": choice("X", "R"),  # the in-phase output, or the magnitude (independent of the phase)
        "timeout": TIMEOUT,
        **SR830_LOCKIN_SETTINGS,
    }),
    "anc300_scanner": DriverSettings("anc300:ANC300Scanner", "scanner", {
        "address": REQUIRED_TEXT,
        "password": Setting(_keyed(_password)),
        "cold": REQUIRED_FLAG,
        "piezo_speed": PIEZO_SPEED,
        # the surface may be unknown (found by a touchdown); the centers may not. z = 0 at
        # zero_volts, else at surface_volts, else at 0 V
        "axes": _piezo_axes(ANC300_VOLTS, {"axis": ANC300_SLOT}, center_required=True, surface_required=False,
                            z_zero=True),
        "coarse_axes": mapping({axis: choice(*range(1, 8)) for axis in ("x", "y", "z")}),
        "coarse_z_step": _positive("coarse z step", "length", 10e-6, "30 nm"),
        "coarse_z_towards_sample": choice("up", "down"),
        "query_delay": quantity(PlausibleRange("query delay", "time", 0.0, 10.0, "50 ms")),
        "timeout": TIMEOUT,
    }, across=(_distinct_anc300_slots, _anc300_coarse_z)),
    "nidaq_scanner": DriverSettings("nidaq:NIDAQScanner", "scanner", {
        "device": Setting(_keyed(_device_name), True),
        "cold": REQUIRED_FLAG,
        "piezo_speed": PIEZO_SPEED,
        "max_step_volts": _positive("voltage step", "voltage", 10.0, "20 mV"),
        "sample_rate_limits": span(SAMPLE_RATE),
        # the centers default to 0 V; the surface comes from a touchdown, never from a default
        "axes": _piezo_axes(NIDAQ_VOLTS, {"channel": REQUIRED_TEXT}, center_required=False, surface_required=True),
    }, across=(_distinct_daq_channels,), daq_channels=("axes.x.channel", "axes.y.channel", "axes.z.channel")),
    "nidaq_fll": DriverSettings("nidaq:NIDAQFluxReadout", "squid", {
        "device": Setting(_keyed(_device_name), True),
        "channel": REQUIRED_TEXT,
        "phi0_per_volt": PHI0_PER_VOLT,
        "pickup_radius": PICKUP_RADIUS,
        "input_range": quantity(INPUT_RANGE),
        "unlock_threshold": quantity(UNLOCK_THRESHOLD),
        "sample_rate": quantity(SAMPLE_RATE),
        "lock_line": Setting(_keyed(_text_or_nothing)),
    }, across=(_unlock_within_input_range,), daq_channels=("channel",)),
    # the SQUID's own bias: a current source and a voltmeter, each checked as in its own role
    "squid_bias_pair": DriverSettings("squid_bias:SquidBiasPair", "squid_bias", {
        "source": _driver_block("current_source"),
        "voltmeter": _driver_block("voltmeter"),
        "preamp_gain": quantity(PREAMP_GAIN),
    }),
    "nidaq_squid_bias": DriverSettings("squid_bias:NIDAQSquidBias", "squid_bias", {
        "device": Setting(_keyed(_device_name), True),
        "output": REQUIRED_TEXT,
        "input": REQUIRED_TEXT,
        "bias_resistance": _positive("bias resistance", "ohm", 1e9, "10 kohm", required=True),
        "preamp_gain": quantity(PREAMP_GAIN),
        "output_range": _positive("output range", "voltage", 10.0, "10 V"),
        "input_range": quantity(INPUT_RANGE),
        "sample_rate": quantity(SAMPLE_RATE),
    }, across=(_squid_bias_daq_channels,), daq_channels=("output", "input")),
}
# driver name -> "module:Class" inside sqm.drivers
DRIVERS: dict[str, str] = {name: driver.adapter for name, driver in DRIVER_SETTINGS.items()}


def _check_role_block(role_name: str, block: object) -> None:
    where = f"hardware.{role_name}"
    if isinstance(block, dict) and "remote" in block:  # an instrument on another PC (drivers/leco.py)
        _remote(block["remote"], role_name)
        driver = block.get("driver")
        if driver in DRIVER_SETTINGS and "address" not in DRIVER_SETTINGS[driver].settings:
            raise UserInputError(f"{where}.remote: the {driver} is not reached through VISA; only an instrument "
                                 "with an address can be on another PC")
        block = {key: value for key, value in block.items() if key != "remote"}
    check_driver_block(block, role_name, where)


def _remote(block: object, role_name: str):
    """The RemoteSpec of a role's `remote:` block, or None without one."""
    if block is None:
        return None
    from .leco import RemoteSpec

    return RemoteSpec.from_block(block, f"hardware.{role_name}.remote")


def check_driver_block(block: object, role_name: str, where: str) -> None:
    """Check `block` (at dotted key `where`) as the block of a driver filling `role_name`:
    its `driver`, its settings, and the driver's checks across them."""
    if not isinstance(block, dict) or "driver" not in block:
        raise UserInputError(f"{where}: give a mapping with a 'driver' (known: {', '.join(sorted(DRIVERS))})")
    driver = block["driver"]
    if not isinstance(driver, str) or driver not in DRIVER_SETTINGS:
        raise UserInputError(f"{where}: unknown driver {shown(driver)} (known: {', '.join(sorted(DRIVERS))})")
    known = DRIVER_SETTINGS[driver]
    if known.role != role_name:
        raise UserInputError(f"{where}: the driver {driver!r} fills the {known.role} role, not {role_name}")
    settings = {key: value for key, value in block.items() if key != "driver"}
    check_block(settings, known.settings, where)
    for check_across in known.across:
        check_across(settings, where)


def _check_visa_library(value: object) -> None:
    """Text; a pyvisa-sim file ('lab.yaml@sim') must exist (it is read, not opened, here)."""
    if not isinstance(value, str):
        raise UserInputError(
            f"hardware.visa_library: must be text such as '@py' or 'lab.yaml@sim', got {shown(value)}"
        )
    simulator_file = Path(_visa_library(value)[: -len("@sim")])
    if value.endswith("@sim") and value != "@sim" and not simulator_file.is_file():
        raise UserInputError(f"hardware.visa_library: {shown(value)}: no pyvisa-sim file {simulator_file}")
