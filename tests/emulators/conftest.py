"""A real driver against one emulator on loopback, on a world of the twin.

`bench(driver, block, speed=..., **sim)` starts the emulator of `driver` on a free port of
127.0.0.1, opens the driver's adapter on it through pyvisa-py (exactly as a hardware
station does), with the default station's limits attached, and closes both at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from sqm.clock import ScaledClock
from sqm.drivers.backend import _adapter_class
from sqm.drivers.base import HardwareContext
from sqm.emulators.link import WorldLink
from sqm.emulators.registry import emulator_class
from sqm.emulators.server import EmulatorServer
from sqm.sims.world import World, WorldSettings
from sqm.station import DEFAULT_STATION, read_station_limits

pytest.importorskip("pyvisa_py")


@dataclass
class Bench:
    role: object  # the driver's adapter (a role)
    server: EmulatorServer
    link: WorldLink
    clock: ScaledClock
    context: HardwareContext


@pytest.fixture
def bench():
    opened: list[Bench] = []

    def start(driver: str, block: dict, speed: float = 100.0, **sim) -> Bench:
        clock = ScaledClock(speed)
        link = WorldLink(World(replace(WorldSettings(), **sim)), clock)
        server = EmulatorServer(driver, emulator_class(driver, driver)(block, link))
        server.start()
        context = HardwareContext(visa_library="@py", clock=clock)
        try:
            role = _adapter_class(driver).from_config({**block, "address": server.address}, context)
        except BaseException:
            context.close()
            server.stop()
            raise
        role.attach_limits(read_station_limits(DEFAULT_STATION)[1])
        opened.append(Bench(role, server, link, clock, context))
        return opened[-1]

    yield start
    for done in opened:
        done.context.close()
        done.server.stop()
