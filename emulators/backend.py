"""The `emulated` backend: the real drivers of a `hardware:` block, each talking over
loopback to an emulator of its instrument, all on one twin world.

    backend: emulated
    emulated:
      speed: 1000                 # lab seconds per wall second (the station clock and the world)
      sim: {seed: 20231, sample: configs/samples/fese_flake.yaml, start_temperature: 8 K}
      faults:                     # optional: what goes wrong, when (lab time since start)
        - {instrument: magnet, fault: quench, at: 2 min}
      hardware:                   # the drivers, as in a hardware station, at loopback addresses
        current_source: {driver: keithley6221, address: "TCPIP::127.0.0.1::51121::SOCKET"}
        ...

Building the station starts one emulator per role on its port (0: any free port), then
opens the drivers through pyvisa-py exactly as on hardware; closing it closes the drivers,
then stops the emulators. The NI-DAQ roles (`nidaq_scanner`, `nidaq_fll`: no address, no
port) are served by one emulated card on the world (sqm.emulators.daq.WorldDAQ): while the
drivers are built its module stands in `sys.modules` as `nidaqmx` (and `nidaqmx.constants`),
which the drivers' `load_nidaqmx()` imports; what was there before is put back after (the
drivers keep the task factory they took). They play `squid_unlock` (the FLL readout's
role) and no wire faults. The run file says `backend: hardware` and each instrument's
identity (the emulators' say SQM-EMULATOR). `validate_config` checks the whole block
(sim, hardware, faults, addresses) without starting anything.
"""

from __future__ import annotations

import re
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Iterator

from sqm.clock import ScaledClock
from sqm.drivers import backend as hardware_backend
from sqm.errors import UserInputError
from sqm.limits import PlausibleRange, StationLimits, read_setting, refuse_unknown_keys, shown
from sqm.sims.backend import read_world_settings
from sqm.sims.world import World
from sqm.station import Backend

from .daq import WorldDAQ, check_daq_fault
from .faults import Fault
from .link import WorldLink
from .registry import DAQ_DRIVERS, emulator_class
from .server import EmulatorServer

_KNOWN = ("speed", "sim", "faults", "hardware")
_SPEED = PlausibleRange("speed", "dimensionless", 1.0, 1e5, "1000", why="lab seconds per wall second")
_LOOPBACK = re.compile(r"^TCPIP0?::127\.0\.0\.1::(\d+)::SOCKET$")
_TICK_S = 0.01  # wall s between the ticker's looks at the fault plans


def validate_config(config: dict, limits: StationLimits) -> None:
    """Check the block exactly as build_backend reads it, starting nothing."""
    _read(config, limits)


def role_names(config: dict) -> tuple[str, ...]:
    return hardware_backend.role_names(_hardware_block(config))


@dataclass
class _Plan:
    speed: float
    sim: dict
    hardware: dict
    ports: dict[str, int]  # role -> port asked for (0: any)
    daq: dict[str, str]  # role -> its NI-DAQ driver (served by the emulated card, no port)
    faults: list[tuple[str, Fault]]


def _hardware_block(config: object) -> dict:
    block = config.get("hardware") if isinstance(config, dict) else None
    if not isinstance(block, dict):
        raise UserInputError(f"emulated.hardware: give the drivers' blocks, as in a hardware station, got "
                             f"{shown(block)}")
    return block


def _read(config: object, limits: StationLimits) -> _Plan:
    if not isinstance(config, dict):
        raise UserInputError(f"emulated: must be a mapping with {', '.join(_KNOWN)}, got {shown(config)}")
    refuse_unknown_keys("emulated", config, _KNOWN)
    speed = read_setting({"speed": 1000.0, **config}, "emulated", "speed", _SPEED)
    sim = config.get("sim") or {}
    try:
        read_world_settings(sim, limits)
    except UserInputError as error:
        raise UserInputError(f"emulated.{error}") from None
    hardware = dict(_hardware_block(config))
    if hardware.get("visa_library", "@py") != "@py" or "clock" in hardware:
        raise UserInputError("emulated.hardware: the emulators are reached through pyvisa-py on the station's "
                             "lab time: leave out visa_library (or give '@py') and clock")
    hardware["visa_library"] = "@py"
    try:
        hardware_backend.validate_config(hardware, limits)
    except UserInputError as error:
        raise UserInputError(f"emulated.{error}") from None
    ports, daq = {}, {}
    for role in hardware_backend.role_names(hardware):
        where = f"emulated.hardware.{role}"
        if hardware[role]["driver"] in DAQ_DRIVERS:  # the emulated card: no address, no port
            daq[role] = hardware[role]["driver"]
            continue
        emulator_class(hardware[role]["driver"], where)  # an emulator exists for its driver
        match = _LOOPBACK.match(str(hardware[role].get("address", "")))
        if match is None:
            raise UserInputError(f"{where}.address: an emulated instrument listens on loopback: give "
                                 f"'TCPIP::127.0.0.1::<port>::SOCKET' (port 0: any free one), got "
                                 f"{shown(hardware[role].get('address'))}")
        ports[role] = int(match.group(1))
    taken = [port for port in ports.values() if port]
    if len(set(taken)) != len(taken):
        raise UserInputError(f"emulated.hardware: two instruments on one port ({', '.join(map(str, ports.values()))})")
    entries = config.get("faults") or []
    if not isinstance(entries, list):
        raise UserInputError(f"emulated.faults: a list of faults, got {shown(entries)}")
    faults = []
    for index, entry in enumerate(entries):
        role, fault = Fault.from_mapping(entry, f"emulated.faults[{index}]")
        if role not in ports and role not in daq:
            raise UserInputError(f"emulated.faults[{index}].instrument: no role {role!r} in this station "
                                 f"(it has {', '.join([*ports, *daq])})")
        if role in daq:
            check_daq_fault(daq[role], fault.kind, f"emulated.faults[{index}]")
        faults.append((role, fault))
    return _Plan(speed, sim, hardware, ports, daq, faults)


@dataclass
class EmulatorSet:
    """The running emulators of a station, by role, with the ticker that plays their faults on time:
    the VISA instruments' servers, and the roles the emulated NI-DAQ card serves (`card`, None
    when the station has none)."""

    link: WorldLink
    servers: dict[str, EmulatorServer] = field(default_factory=dict)
    card: WorldDAQ | None = None
    daq_roles: dict[str, str] = field(default_factory=dict)  # role -> its NI-DAQ driver
    _stopping: threading.Event = field(default_factory=threading.Event)
    _ticker: threading.Thread | None = None

    def add_fault(self, role: str, fault: Fault) -> None:
        if role in self.daq_roles and self.card is not None:
            self.card.add_fault(self.daq_roles[role], fault, f"emulated.hardware.{role}")
        else:
            self.servers[role].add_fault(fault)

    def start_ticker(self) -> None:
        def tick() -> None:
            while not self._stopping.wait(_TICK_S):
                for server in self.servers.values():
                    server.apply_due_faults()
                if self.card is not None:
                    self.card.apply_due_faults()

        self._ticker = threading.Thread(target=tick, name="emulator faults", daemon=True)
        self._ticker.start()

    def messages(self) -> int:
        """Messages the drivers have sent so far, all instruments together."""
        return sum(server.messages for server in self.servers.values())

    def stop(self) -> None:
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2.0)
        for server in self.servers.values():
            server.stop()


def start_emulators(config: dict, limits: StationLimits) -> tuple[EmulatorSet, dict, ScaledClock]:
    """Start every emulator of the block: (the set, the hardware block at the ports they
    took, the station clock they run on). UserInputError (one line) for a bad block or
    a port that is taken; nothing is left running then."""
    plan = _read(config, limits)
    settings, _ = read_world_settings(plan.sim, limits)
    clock = ScaledClock(plan.speed)
    emulators = EmulatorSet(WorldLink(World(settings), clock))
    hardware = dict(plan.hardware)
    try:
        if plan.daq:
            blocks = {driver: hardware[role] for role, driver in plan.daq.items()}
            emulators.card = WorldDAQ(emulators.link, blocks.get("nidaq_scanner"), blocks.get("nidaq_fll"))
            emulators.daq_roles = dict(plan.daq)
        for role, port in plan.ports.items():
            block = dict(hardware[role])
            emulator = emulator_class(block["driver"], role)(block, emulators.link)
            server = EmulatorServer(f"emulated.hardware.{role}", emulator, port)
            server.start()
            emulators.servers[role] = server
            hardware[role] = {**block, "address": server.address}
        for role, fault in plan.faults:
            emulators.add_fault(role, fault)
        emulators.start_ticker()
    except BaseException:
        emulators.stop()
        raise
    return emulators, hardware, clock


def build_backend(config: dict, limits: StationLimits, tolerant: bool = False) -> Backend:
    """Start the emulators, then open the real drivers on them (see the module)."""
    emulators, hardware, clock = start_emulators(config, limits)
    try:
        with _nidaqmx_installed(emulators.card.module() if emulators.card else None):
            backend = hardware_backend.build_backend(hardware, limits, tolerant, clock=clock)
    except BaseException:
        emulators.stop()
        raise

    def close() -> None:
        try:
            backend.close()
        finally:
            emulators.stop()

    emulated = Backend(kind=backend.kind, roles=backend.roles, clock=clock, close=close, failures=backend.failures,
                       badge="EMULATED")
    emulated.emulators = emulators  # type: ignore[attr-defined]  # for tests and benchmarks: the fault plans
    return emulated


_NIDAQMX = ("nidaqmx", "nidaqmx.constants")


@contextmanager
def _nidaqmx_installed(module: ModuleType | None) -> Iterator[None]:
    """`module` (the emulated card's) is what `import nidaqmx` and `import nidaqmx.constants`
    give while the block runs; whatever sys.modules held before (NI's package, or nothing) is
    put back after. None: nothing changes."""
    if module is None:
        yield
        return
    before = {name: sys.modules[name] for name in _NIDAQMX if name in sys.modules}  # None too: an import refused
    sys.modules.update({"nidaqmx": module, "nidaqmx.constants": module.constants})
    try:
        yield
    finally:
        for name in _NIDAQMX:
            if name in before:
                sys.modules[name] = before[name]
            else:
                sys.modules.pop(name, None)
