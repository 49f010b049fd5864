"""The `hardware` backend: real instruments behind the roles, from a station file.

    backend: hardware
    hardware:
      visa_library: "@py"            # or "drivers/sim/lab.yaml@sim" for pyvisa-sim
      current_source: {driver: keithley6221, address: "GPIB0::12::INSTR", ...}
      voltmeter: {driver: keithley2182, address: "GPIB0::7::INSTR"}
      magnet: {driver: ami430, address: "TCPIP::magnet::7180::SOCKET", ...}
      temperature: {driver: lakeshore336, address: "GPIB0::13::INSTR", ...}
      scanner: {driver: nidaq, ...}
      squid: {driver: nidaq_fll, ...}

Adapters are looked up by the `driver` name in DRIVERS and imported only when used,
so a station that does not use the NI-DAQ never imports nidaqmx.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from sqm.clock import RealClock, SimulatedClock
from sqm.errors import InstrumentError, UserInputError
from sqm.limits import StationLimits
from sqm.station import Backend

from .base import HardwareContext

# driver name -> "module:Class" inside sqm.drivers
DRIVERS: dict[str, str] = {
    "keithley6221": "keithley:Keithley6221Source",
    "keithley2182": "keithley:Keithley2182Voltmeter",
    "ami430": "ami430:AMI430Magnet",
    "lakeshore336": "lakeshore336:LakeShore336Temperature",
    "sr830_squid": "sr830:SR830SquidReadout",
    "anc300_scanner": "anc300:ANC300Scanner",
    "nidaq_scanner": "nidaq:NIDAQScanner",
    "nidaq_fll": "nidaq:NIDAQFluxReadout",
}
CLOCKS = {"real": RealClock, "simulated": SimulatedClock}  # simulated: pyvisa-sim stations only
ROLE_NAMES = ("current_source", "voltmeter", "magnet", "temperature", "scanner", "squid")
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


def build_backend(config: dict, limits: StationLimits, tolerant: bool = False) -> Backend:
    """Open every instrument of the `hardware:` block and wrap it in its role.

    `clock: simulated` is for pyvisa-sim stations only: the simulated instruments have
    no dynamics and no time, so the station's waits pass at once.
    `tolerant`: an instrument that does not answer is listed in Backend.failures
    instead of refusing the whole station (for `sqm instruments`).
    """
    if not isinstance(config, dict):
        raise UserInputError("'hardware' must be a mapping")
    config = dict(config)
    clock_kind = config.pop("clock", "real")
    if clock_kind not in CLOCKS:
        raise UserInputError(f"hardware.clock must be one of {', '.join(CLOCKS)}, got {clock_kind!r}")
    context = HardwareContext(_visa_library(str(config.pop("visa_library", ""))), CLOCKS[clock_kind]())
    unknown = set(config) - set(ROLE_NAMES)
    if unknown:
        raise UserInputError(f"hardware: unknown role(s) {', '.join(sorted(unknown))}")
    roles, failures = {}, {}
    try:
        for role_name in ROLE_NAMES:
            block = config.get(role_name)
            if not isinstance(block, dict) or "driver" not in block:
                raise UserInputError(f"hardware.{role_name}: give a mapping with a 'driver'")
            adapter_class = _adapter_class(block["driver"])
            try:
                roles[role_name] = adapter_class.from_config(dict(block), context)
            except ImportError as error:  # pymeasure/pyvisa are the hardware extra
                raise UserInputError(
                    f"hardware.{role_name}: needs the hardware extra (pip install -e '.[hardware]'): {error}"
                ) from None
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
