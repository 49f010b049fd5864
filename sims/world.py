"""The twin's world: the state of cryostat, magnet, bias, scanner and sample,
evolving in simulated time.

The simulated clock calls `advance(dt)` whenever time passes; everything that
has dynamics (thermal lag, magnet ramp, sensor drift, thermal erasure of the
magnetic state) is integrated there. The simulated instruments read and command
this world; they never see each other.

The sample's response (flux and susceptibility at the sensor, hysteresis, thermal
erasure) is the job of `self.sample`: the spatial film model of a sample file
(`film_sample.FilmSample`) or the lumped model R (`lumped_sample.LumpedSample`), both
described in docs/physics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sqm.roles import MagnetState

from .approach import ApproachModel, CoarseStepper, SurfaceContact
from .film_sample import FilmSample
from .lumped import BiasLoopParameters
from .lumped_sample import LumpedSample
from .nano_squid import NanoSquid, NanoSquidSettings
from .noise import FluxNoise
from .sample_file import SampleDescription, load_sample

UM = 1e-6
# The paper's flake: the twin's sample when a station file names none.
PAPER_SAMPLE = Path(__file__).resolve().parent.parent / "configs" / "samples" / "fese_flake.yaml"
QUENCH_DECAY_S = 0.5  # s, field decay time constant after a quench (phenomenological)
# m: the film is read at least this far below the pickup loop (the loop sits on the chip, above its
# lowest point: in contact the loop is still this high)
MIN_HEIGHT = 0.05 * UM


@dataclass(frozen=True)
class SensorGeometry:
    """The nano-SQUID's loops (m): pickup loop for magnetometry, field coil for susceptometry."""

    pickup_radius: float = 0.5 * UM
    field_coil_radius: float = 1.5 * UM
    susceptometry_noise: float = 0.02  # Phi0/A per sqrt(Hz), lock-in reading (phenomenological)


@dataclass
class WorldSettings:
    """Parameters of the twin that a station file may set (SI units)."""

    seed: int = 20231
    sample_model: str = "film"  # "film": the spatial model; "lumped": model R at the park point
    sample_file: str = str(PAPER_SAMPLE)  # the sample file (configs/samples/*.yaml)
    bias_leads: tuple[str, str] | None = None  # source and drain; None: the sample file's own pair
    base_temperature: float = 1.5  # K, the cryostat with the heater off
    start_temperature: float = 8.0  # K, the sample when the twin is switched on (above T_c: virgin)
    thermal_time_constant: float = 30.0  # s, first-order lag of the sample stage
    temperature_noise: float = 0.5e-3  # K rms of a thermometer reading
    flux_noise_white: float = 1e-6  # Phi0/sqrt(Hz)
    flux_noise_corner: float = 0.1  # Hz, 1/f corner
    voltage_noise: float = 10e-9  # V/sqrt(Hz), nanovoltmeter input noise
    scan_height: float = 1 * UM  # m, height at which the lumped model is calibrated
    upper_oersted_ratio: float = 2.0  # Oersted coupling of the upper domain / lower (phenomenological)
    above_edge_oersted_ratio: float = -1.5  # above the top edge, outside the flake (opposite sign)
    sensor: "SensorGeometry" = field(default_factory=lambda: SensorGeometry())
    approach: ApproachModel = field(default_factory=ApproachModel)  # the touchdown bridge and the sensor's mount
    # m: how far below the station's reference the sample surface starts, as a cool-down
    # leaves it (out of the fine z's reach when more than its range: a coarse_approach finds it)
    surface_distance: float = 0.0
    bias: BiasLoopParameters = field(default_factory=BiasLoopParameters)  # model R's (lumped model only)
    squid: NanoSquidSettings = field(default_factory=NanoSquidSettings)  # the sensor itself and its readout

    def sample(self) -> SampleDescription:
        """The sample file, read and checked."""
        return load_sample(self.sample_file)


class World:
    """Everything the simulated instruments act on. Times in s, SI units throughout."""

    def __init__(self, settings: WorldSettings | None = None) -> None:
        self.settings = s = settings or WorldSettings()
        seed_sequence = np.random.SeedSequence(s.seed)
        # spawn keys each child by its index: a stream added at the end leaves the others as they were
        (sample_seed, noise_seed, thermometer_seed, voltmeter_seed, lockin_seed, bridge_seed,
         coarse_seed, squid_seed) = seed_sequence.spawn(8)
        sample_rng = np.random.default_rng(sample_seed)
        description = s.sample()
        self.description = description
        self.contact = SurfaceContact(s.approach, description.surface.height_offset - s.surface_distance,
                                      description.surface.tilt, np.random.default_rng(bridge_seed))
        self.coarse = CoarseStepper(s.approach, np.random.default_rng(coarse_seed))
        if s.sample_model == "film":
            self.sample = FilmSample(sample_rng, description, s.scan_height, s.sensor.pickup_radius,
                                     s.base_temperature, s.bias_leads)
        elif s.sample_model == "lumped":
            self.sample = LumpedSample(
                sample_rng,
                s.bias,
                description,
                s.scan_height,
                s.upper_oersted_ratio,
                s.above_edge_oersted_ratio,
            )
        else:
            raise ValueError(f"unknown sample model {s.sample_model!r} (film or lumped)")
        self.flux_noise = FluxNoise(np.random.default_rng(noise_seed), s.flux_noise_white, s.flux_noise_corner)
        self._thermometer_rng = np.random.default_rng(thermometer_seed)
        self._voltmeter_rng = np.random.default_rng(voltmeter_seed)
        self._lockin_rng = np.random.default_rng(lockin_seed)
        self.nano_squid = NanoSquid(s.squid, np.random.default_rng(squid_seed))
        self.time = 0.0
        # Cryostat
        self.temperature = s.start_temperature
        self.heater_setpoint = s.start_temperature
        self.heater_on = True
        # Bias source
        self.bias_current = 0.0
        self.bias_leads = self.default_bias_leads()
        self.bias_output = False
        # Magnet supply
        self.field = 0.0
        self.field_target = 0.0
        self.field_rate = 0.0
        self.magnet_state = MagnetState.AT_ZERO
        self.switch_heater_on = True  # persistent switch open: the supply drives the coil
        # Field in which the film last became superconducting: its Meissner currents
        # (and so the field drive of the hysterons) respond to the change since then.
        self.field_at_cooldown = 0.0
        # Scanner: starts retracted over the flake centre
        self.position = [0.0, 0.0, 10 * UM]
        # Sensor
        self.squid_locked = True
        self._anneal_magnetic_state()

    def sample_bias_leads(self) -> tuple[str, str]:
        """The source and drain the bias current flows between now."""
        return self.bias_leads

    def default_bias_leads(self) -> tuple[str, str]:
        """The pair a step uses unless it names one: the station's `sim.bias_leads`, else the sample's."""
        leads = self.settings.bias_leads or self.description.bias_leads
        return (leads[0], leads[1])

    def select_bias_leads(self, leads: tuple[str, str]) -> None:
        """Route the bias between another pair of the sample's leads. Only with no current
        flowing (the current source ramps to zero first): a current is never switched."""
        if self.bias_current != 0.0:
            raise RuntimeError(f"leads switched with {self.bias_current:g} A flowing")
        if leads[0] not in self.description.leads or leads[1] not in self.description.leads:
            raise ValueError(f"the sample has no leads {leads!r}")
        self.sample.select_leads(leads)
        self.bias_leads = (leads[0], leads[1])

    # Time ----------------------------------------------------------------------
    def advance(self, dt: float) -> None:
        """Let `dt` seconds of simulated time pass."""
        self.time += dt
        self._advance_temperature(dt)
        self._advance_magnet(dt)
        self.flux_noise.advance(dt)

    def _advance_temperature(self, dt: float) -> None:
        s = self.settings
        was_superconducting = self.superconducting
        goal = max(self.heater_setpoint, s.base_temperature) if self.heater_on else s.base_temperature
        self.temperature = goal + (self.temperature - goal) * math.exp(-dt / s.thermal_time_constant)
        if self.superconducting and not was_superconducting:
            self.field_at_cooldown = self.field  # field cooling traps the field present now
        # The relaxation is monotone, so the highest temperature of the interval is at one of its ends:
        # annealing at the end captures a warming; a cooling anneals nothing new.
        self._anneal_magnetic_state()

    def _anneal_magnetic_state(self) -> None:
        self.sample.anneal(self.temperature)

    def _advance_magnet(self, dt: float) -> None:
        if self.magnet_state is MagnetState.QUENCH:
            # the stored energy goes into the coil: the field collapses within about a second
            self.field *= math.exp(-dt / QUENCH_DECAY_S)
            return
        if self.magnet_state is not MagnetState.RAMPING:
            return
        distance = self.field_target - self.field
        reach = self.field_rate * dt
        if abs(distance) <= reach:
            self.field = self.field_target
            self.magnet_state = MagnetState.HOLDING
        else:
            self.field += math.copysign(reach, distance)
        # A ramp is monotone: driving the hysterons at its end captures it.
        if self.superconducting:
            self._drive_sample()

    # Commands from the simulated instruments --------------------------------------
    def set_bias_current(self, amps: float) -> None:
        self.bias_current = amps
        if self.superconducting and not self.resistive:
            self._drive_sample()

    def _drive_sample(self) -> None:
        """The supercurrents flowing now, the bias (while below I_c) and the Meissner
        current of the field change since the cool-down, polarise the moments together."""
        supercurrent = 0.0 if self.resistive else self.bias_current
        self.sample.drive(supercurrent, self.field - self.field_at_cooldown)

    def start_field_ramp(self, target: float, rate: float) -> None:
        self.field_target = target
        self.field_rate = rate
        self.magnet_state = MagnetState.RAMPING

    def pause_field_ramp(self) -> None:
        if self.magnet_state is MagnetState.RAMPING:
            self.magnet_state = MagnetState.PAUSED

    def inject_quench(self) -> None:
        """A fault for tests and drills: the magnet quenches, the ramp stops, the field collapses."""
        self.magnet_state = MagnetState.QUENCH

    # Derived state -------------------------------------------------------------------
    @property
    def superconducting(self) -> bool:
        return self.temperature < self.sample.superconductor.critical_temperature

    @property
    def resistive(self) -> bool:
        """True when the bias exceeds I_c(T) or the film is normal (no screening then)."""
        sc = self.sample.superconductor
        return abs(self.bias_current) > sc.critical_current(self.temperature)

    def thermometer_reading(self) -> float:
        return self.temperature + self._thermometer_rng.normal(0.0, self.settings.temperature_noise)

    def sample_voltage(self) -> float:
        """Noise-free four-probe voltage (V) of the bias current: see SuperconductorParameters.voltage."""
        return self.sample.superconductor.voltage(self.bias_current, self.temperature)

    def voltmeter_reading(self, integration_time: float) -> float:
        """Four-probe voltage (V) averaged over `integration_time` s, with nanovoltmeter noise."""
        sigma = self.settings.voltage_noise / math.sqrt(2.0 * integration_time)
        return self.sample_voltage() + self._voltmeter_rng.normal(0.0, sigma)

    def sensor_signal(self, xs, ys, signal: str, zs=None) -> np.ndarray:
        """Noise-free 'flux' (Phi0) or 'susceptibility' (Phi0/A) at (xs, ys) with the sensor
        at z `zs` (m, the scanner's coordinate; default: the present z): the film is read
        at the sensor's height above the true surface there, at least MIN_HEIGHT."""
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        zs = self.position[2] if zs is None else zs
        heights = np.maximum(np.broadcast_to(zs, xs.shape) - self.contact.surface_z(xs, ys), MIN_HEIGHT)
        if signal == "flux":
            return self.sample.flux(
                xs, ys, heights, self.bias_current, self.field, self.temperature, self.field_at_cooldown
            )
        return self.sample.susceptibility(xs, ys, heights, self.temperature, self.settings.sensor)

    def sensor_reading(self, xs, ys, signal: str, dwell: float, zs=None, times=None) -> np.ndarray:
        """What the readout reports at (xs, ys) (and z `zs`, default the present z) when
        each sample is averaged `dwell` s, taken at `times` (s, default now): the noise-free
        signal plus sensor noise (flux: white + the slow 1/f drift, which is common to a
        line, through the nano-SQUID's readout; susceptibility: the lock-in's white noise)."""
        clean = np.asarray(self.sensor_signal(xs, ys, signal, zs), dtype=float)
        if signal == "flux":
            noisy = clean + self.flux_noise.sample(dwell, clean.shape)
            flux = self.nano_squid.read_flux(noisy, self.field, self.time if times is None else times, dwell)
            return np.reshape(flux, clean.shape)
        sigma = self.settings.sensor.susceptometry_noise / np.sqrt(2.0 * dwell)
        return clean + self._lockin_rng.normal(0.0, sigma, clean.shape)

    def touchdown_reading(self, integration_time: float) -> float:
        """The touchdown bridge's signal (V) at the sensor's present position."""
        x, y, z = self.position
        return self.contact.reading(x, y, z, self.time, integration_time)

    def check_crash(self) -> str | None:
        """A crash at the present position (recorded by the contact model), or None."""
        x, y, z = self.position
        return self.contact.crash_at(x, y, z)

    @property
    def squid_is_locked(self) -> bool:
        """The readout's lock: not after an injected unlock, nor while the loop catches up."""
        return self.squid_locked and self.nano_squid.is_locked(self.time)

    def squid_total_flux(self, integration_time: float) -> float:
        """The flux (Phi0) the SQUID itself sees at the present position, averaged over
        `integration_time` s: the applied field's, the sample's and the sensor's noise."""
        noise = float(self.flux_noise.sample(integration_time))
        return self.nano_squid.applied_flux(self.field) + self.sensor_flux() + noise

    def squid_voltage_reading(self, integration_time: float) -> float:
        """The SQUID's voltage (V) at its bias, averaged over `integration_time` s."""
        return self.nano_squid.voltage_reading(self.squid_total_flux(integration_time), integration_time)

    def sensor_flux(self) -> float:
        """Noise-free flux (Phi0) through the pickup loop at the present position."""
        x, y, _ = self.position
        return float(self.sensor_signal(x, y, "flux"))
