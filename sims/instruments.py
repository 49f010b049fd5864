"""Simulated instruments: each fills one role by reading and commanding the World.

They implement only the roles' primitives; the limits, ramps and refusals are the
roles' own (sqm.roles), exactly as for the real drivers.
"""

from __future__ import annotations

import math

import numpy as np

from sqm.errors import InstrumentError
from sqm.pacing import Pacer
from sqm.roles import (
    CurrentSource,
    Magnet,
    MagnetState,
    ScanLine,
    Scanner,
    SquidBias,
    SquidReadout,
    TemperatureController,
    TouchdownSensor,
    Voltmeter,
    WorkingPoint,
)

from .world import World

SCANNER_SPEED = 20e-6  # m/s, lateral piezo moves
Z_SPEED = 2e-6  # m/s, approach and retract


class SimCurrentSource(CurrentSource):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def identity(self) -> str:
        return "SQM twin bias source (Keithley 6221 stand-in)"

    def read_current(self) -> float:
        return self.world.bias_current if self.world.bias_output else 0.0

    def output_enabled(self) -> bool:
        return self.world.bias_output

    def _apply_current(self, amps: float) -> None:
        self.world.set_bias_current(amps)

    def _set_output(self, enabled: bool) -> None:
        self.world.bias_output = enabled
        if not enabled:
            self.world.set_bias_current(0.0)

    def leads(self) -> tuple[str, str]:
        return self.world.bias_leads

    def default_leads(self) -> tuple[str, str]:
        return self.world.default_bias_leads()

    def _select_leads(self, leads: tuple[str, str]) -> None:
        self.world.select_bias_leads(leads)


class SimMagnet(Magnet):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def identity(self) -> str:
        return "SQM twin magnet (AMI 430 stand-in)"

    def read_field(self) -> float:
        return self.world.field

    def state(self) -> MagnetState:
        return self.world.magnet_state

    def is_persistent(self) -> bool:
        # The twin's supply holds the coil current itself; with the switch closed the
        # coil is persistent and the supply must not drive it.
        return not self.world.switch_heater_on

    def switch_heater_on(self) -> bool:
        return self.world.switch_heater_on

    def _set_switch_heater(self, on: bool) -> None:
        self.world.switch_heater_on = on

    def _start_ramp(self, target: float, rate: float) -> None:
        self.world.start_field_ramp(target, rate)

    def _pause(self) -> None:
        self.world.pause_field_ramp()


class SimTemperatureController(TemperatureController):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def identity(self) -> str:
        return "SQM twin temperature controller (Lake Shore 336 stand-in)"

    def read_temperature(self) -> float:
        return self.world.thermometer_reading()

    def read_setpoint(self) -> float:
        return self.world.heater_setpoint

    def _write_setpoint(self, kelvin: float) -> None:
        self.world.heater_setpoint = kelvin
        self.world.heater_on = True

    def heater_off(self) -> None:
        self.world.heater_on = False


class SimScanner(Scanner):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        if world.settings.surface_distance > 0:
            self.record_surface(None)  # the station file does not say where a distant sample is

    def identity(self) -> str:
        return "SQM twin scanner (NI DAQ + piezo stand-in)"

    def position(self) -> tuple[float, float, float]:
        x, y, z = self.world.position
        return x, y, z

    def z_range(self) -> tuple[float, float]:
        return self.world.settings.approach.z_range

    def _move_xy(self, x: float, y: float, pacer: Pacer) -> None:
        x0, y0, _ = self.world.position
        pacer.wait(math.hypot(x - x0, y - y0) / SCANNER_SPEED)
        self.world.position[0:2] = [x, y]
        self._refuse_a_crash()

    def _move_z(self, z: float, pacer: Pacer) -> None:
        pacer.wait(abs(z - self.world.position[2]) / Z_SPEED)
        self.world.position[2] = z
        self._refuse_a_crash()

    def coarse_z_step(self) -> float | None:
        return self.world.settings.approach.coarse_step

    def _coarse_z_steps(self, steps: int, pacer: Pacer) -> None:
        pacer.wait(abs(steps) / self.world.settings.approach.coarse_step_rate)
        self.world.contact.raise_surface(self.world.coarse.travel(steps))
        self._refuse_a_crash()

    def _refuse_a_crash(self) -> None:
        """A move that pressed the sensor into the sample past its mount's compliance: the
        twin has recorded the crash; the step fails with it."""
        crash = self.world.check_crash()
        if crash is not None:
            raise InstrumentError(crash)

    def _scan_line(self, line: ScanLine, readout: SquidReadout, signal: str, pacer: Pacer) -> np.ndarray:
        """Fly to the line's start, then sample it at constant speed, as a DAQ line would;
        z follows the line's own z when it has one."""
        if line.z is not None:
            self._move_z(line.z[0], pacer)
        self._move_xy(*line.start, pacer)
        pacer.wait(line.duration)
        xs, ys = line.points()
        zs = line.z_points(self.world.position[2])
        self.world.position[:] = [xs[-1], ys[-1], zs[-1]]
        self._refuse_a_crash()
        times = self.world.time - line.duration + line.dwell * np.arange(1, xs.size + 1)
        return self.world.sensor_reading(xs, ys, signal, line.dwell, zs, times=times)


class SimSquidReadout(SquidReadout):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def identity(self) -> str:
        return "SQM twin nano-SQUID (flux-locked loop stand-in)"

    @property
    def pickup_radius(self) -> float:
        return self.world.settings.sensor.pickup_radius

    def read_flux(self, integration_time: float, pacer: Pacer) -> float:
        return self._read("flux", integration_time, pacer)

    def read_susceptibility(self, integration_time: float, pacer: Pacer) -> float:
        return self._read("susceptibility", integration_time, pacer)

    def _read(self, signal: str, integration_time: float, pacer: Pacer) -> float:
        pacer.wait(integration_time)
        x, y, _ = self.world.position
        return float(self.world.sensor_reading(x, y, signal, integration_time))

    def is_locked(self) -> bool:
        return self.world.squid_is_locked

    def unlock_count(self) -> int | None:
        return self.world.nano_squid.loop.unlock_events


class SimTouchdownSensor(TouchdownSensor):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def identity(self) -> str:
        return "SQM twin touchdown bridge (capacitance bridge + SR830 stand-in)"

    def read_signal(self, integration_time: float, pacer: Pacer) -> float:
        pacer.wait(integration_time)
        return self.world.touchdown_reading(integration_time)


class SimVoltmeter(Voltmeter):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def identity(self) -> str:
        return "SQM twin nanovoltmeter (Keithley 2182A stand-in)"

    def read_voltage(self, integration_time: float, pacer: Pacer) -> float:
        pacer.wait(integration_time)
        return self.world.voltmeter_reading(integration_time)


class SimSquidBias(SquidBias):
    """The nano-SQUID's bias source and the voltage across it."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def identity(self) -> str:
        return "SQM twin nano-SQUID bias (current source + preamplifier stand-in)"

    def read_current(self) -> float:
        squid = self.world.nano_squid
        return squid.bias_current if squid.bias_output else 0.0

    def output_enabled(self) -> bool:
        return self.world.nano_squid.bias_output

    def _apply_current(self, amps: float) -> None:
        self.world.nano_squid.bias_current = amps

    def _set_output(self, enabled: bool) -> None:
        self.world.nano_squid.bias_output = enabled

    def read_voltage(self, integration_time: float, pacer: Pacer) -> float:
        pacer.wait(integration_time)
        return self.world.squid_voltage_reading(integration_time)

    def record_working_point(self, point: WorkingPoint, pacer: Pacer) -> None:
        """The readout locks there: the loop afresh, an open loop about its voltage."""
        super().record_working_point(point, pacer)
        world = self.world
        world.nano_squid.lock(world.squid_total_flux(1.0), world.field, world.time, point.voltage, point.transfer)
