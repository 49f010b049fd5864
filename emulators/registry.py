"""Which emulator answers for which driver: the one home of that pairing.

Keyed by the driver name of a station file's block (sqm.drivers.backend.DRIVER_SETTINGS);
each value is "module:Class" inside sqm.emulators.instruments, imported when used.
The NI-DAQ drivers (DAQ_DRIVERS) are no VISA instruments: one card on the world
(sqm.emulators.daq.WorldDAQ) serves them, in place of NI's nidaqmx package, with no
address and no TCP server.
"""

from __future__ import annotations

import importlib

from sqm.errors import UserInputError

from .server import InstrumentEmulator

EMULATORS: dict[str, str] = {
    "keithley6221": "keithley6221:Keithley6221Emulator",
    "keithley2182": "keithley2182:Keithley2182Emulator",
    "yokogawa_gs200": "yokogawa_gs200:GS200Emulator",
    "ami430": "ami430:AMI430Emulator",
    "lakeshore336": "lakeshore336:LakeShore336Emulator",
    "sr830_squid": "sr830:SR830SquidEmulator",
    "sr830_touchdown": "sr830:SR830BridgeEmulator",
    "anc300_scanner": "anc300:ANC300Emulator",
}
DAQ_DRIVERS = frozenset({"nidaq_scanner", "nidaq_fll"})  # served by sqm.emulators.daq.WorldDAQ


def emulator_class(driver: str, where: str) -> type[InstrumentEmulator]:
    """The emulator of `driver`; UserInputError naming `where` when there is none."""
    if driver not in EMULATORS:
        raise UserInputError(f"{where}: no emulator for the driver {driver!r} (emulated: "
                             f"{', '.join(sorted(EMULATORS.keys() | DAQ_DRIVERS))})")
    module_name, class_name = EMULATORS[driver].split(":")
    module = importlib.import_module(f"{__package__}.instruments.{module_name}")
    return getattr(module, class_name)
