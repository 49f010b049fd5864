"""Stanford SR830 lock-ins as the station's `SquidReadout` and its `TouchdownSensor`.

No public driver exists for SQUID electronics (Magnicon, STAR Cryoelectronics), so the
flux-locked loop (FLL) is treated as "analog input + calibration":

* DC flux: the FLL output voltage, wired to one SR830 auxiliary input (`OAUX?<n>;`,
  as pymeasure sends it), times `phi0_per_volt` (Phi0/V, the FLL's feedback calibration).
  A reading averages up to 20 samples spread over the integration time (the SR830
  samples its aux inputs; it does not integrate them).
* AC susceptometry: the lock-in's in-phase output X (`SNAP? 1,2`, V rms) times
  `phi0_per_volt_lockin` (Phi0/V) divided by the field-coil current
  `field_coil_current` (A rms, driven by the lock-in's sine output), in Phi0/A.
  `LIAS?` is read before (to clear old latched flags) and after: an overload or a lost
  reference during the reading refuses it, since X is then clipped or meaningless.
* Lock: an FLL that loses lock runs its integrator into the rails, so an output at
  or beyond +-`unlock_threshold` volts (e.g. 9.5 V for electronics that rail at
  +-10 V) counts as unlocked. A railed output is no flux reading: reads raise.

Station file block::

    squid:
      driver: sr830_squid
      address: "GPIB0::8::INSTR"
      flux_input: 1                # SR830 aux input (1-4) carrying the FLL output
      phi0_per_volt: 0.25 Phi0/V   # FLL calibration
      phi0_per_volt_lockin: 0.25 Phi0/V
      field_coil_current: 1 mA     # rms current of the field coil at the lock-in's amplitude
      pickup_radius: 0.1 um
      unlock_threshold: 9.5 V
      time_constant: 100 ms        # optional lock-in settings, applied on connect:
      sensitivity: 1 mV            #   OFLT, SENS: exact SR830 values only
      frequency: 1.1 kHz           #   FREQ 1 mHz - 102 kHz
      amplitude: 0.1 V             #   SLVL 4 mV - 5 V (rms)
      phase: 0                     #   PHAS -360 - 729.99 degrees

pymeasure's SR830 truncates or clamps out-of-range values of these five settings;
`StrictSR830` redeclares them with strict validators, and `LockinSettings` refuses a
station file that asks for anything else before the instrument is opened.

The touchdown sensor (`SR830TouchdownSensor`) is a second SR830 reading a capacitance
bridge between the sensor chip and the sample: its sine output excites the bridge
(`amplitude` at `frequency`), its input takes the bridge's out-of-balance signal, which
rises as the gap closes and stops rising at contact. A reading is the chosen output
(`X`, the in-phase part, or `R`, the magnitude, which does not depend on the phase) in
V, averaged over the integration time from `SNAP? 1,2` samples, with `LIAS?` read before
and after as for susceptometry: an overload refuses the reading. On connection the
lock-in settings of the block are applied and read back (`OFLT?`, `SENS?`, `FREQ?`,
`SLVL?`, `PHAS?`): one the SR830 did not take (an external reference ignores `FREQ`, and
the amplitude and phase have a resolution of 2 mV and 0.01 degree) refuses the connection.

Station file block::

    touchdown:
      driver: sr830_touchdown
      address: "GPIB0::9::INSTR"
      output: X                    # optional: X (default) or R
      frequency: 5 kHz             # optional lock-in settings, as for sr830_squid
      amplitude: 100 mV            #   the bridge's excitation (rms)
      phase: 0
      sensitivity: 1 mV
      time_constant: 30 ms
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from typing import Callable, TypeVar

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.srs import SR830
from pymeasure.instruments.srs.sr830 import LIAStatus
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from sqm.errors import InstrumentError, UserInputError
from sqm.pacing import Pacer
from sqm.roles import SquidReadout, TouchdownSensor

from .base import (
    CAST_NUMBER,
    HardwareContext,
    check_known_keys,
    checked_reply,
    connected,
    guarded,
    quantity_setting,
    setting,
)
from .scpi import check_identity, log_wire, query, read_identity, timeout_ms

logger = logging.getLogger(__name__)
R = TypeVar("R")  # an adapter class built on an SR830

AUX_INPUTS = (1, 2, 3, 4)
AUX_INPUT_RANGE_V = 10.5  # the SR830 aux inputs read +-10.5 V
FREQUENCY_RANGE_HZ = (0.001, 102000.0)
AMPLITUDE_RANGE_V = (0.004, 5.0)
PHASE_RANGE_DEG = (-360.0, 729.99)

# A reading is an average of samples at least this far apart (s), and at most this many:
# the aux inputs are sampled, not integrated, by the SR830.
SAMPLE_INTERVAL_S = 0.05
MAX_SAMPLES_PER_READING = 20

# Lock-in status bits that make X meaningless (latched until LIAS? is read).
LOCKIN_FAULTS = {
    LIAStatus.INPUT_OVERLOAD: "input overload",
    LIAStatus.FILTER_OVERLOAD: "time-constant filter overload",
    LIAStatus.OUTPUT_OVERLOAD: "output overload",
    LIAStatus.REF_UNLOCK: "reference unlocked",
}


class StrictSR830(SR830):
    """pymeasure's SR830 with the settings SQM writes redeclared to refuse, not clamp or
    truncate, a value the instrument cannot take (ValueError before anything is sent)."""

    sensitivity = Instrument.control(
        "SENS?", "SENS%d",
        """Control the sensitivity in volts: exactly one of SR830.SENSITIVITIES (2 nV - 1 V).""",
        validator=strict_discrete_set,
        values=SR830.SENSITIVITIES,
        map_values=True,
    )
    time_constant = Instrument.control(
        "OFLT?", "OFLT%d",
        """Control the time constant in seconds: exactly one of SR830.TIME_CONSTANTS (10 us - 30 ks).""",
        validator=strict_discrete_set,
        values=SR830.TIME_CONSTANTS,
        map_values=True,
    )
    frequency = Instrument.control(
        "FREQ?", "FREQ%0.5e",
        """Control the internal reference frequency in Hz (1 mHz - 102 kHz).""",
        validator=strict_range,
        values=list(FREQUENCY_RANGE_HZ),
    )
    sine_voltage = Instrument.control(
        "SLVL?", "SLVL%0.3f",
        """Control the sine-output amplitude in volts rms (4 mV - 5 V).""",
        validator=strict_range,
        values=list(AMPLITUDE_RANGE_V),
    )
    phase = Instrument.control(
        "PHAS?", "PHAS%0.2f",
        """Control the reference phase shift in degrees (-360 - 729.99).""",
        validator=strict_range,
        values=list(PHASE_RANGE_DEG),
    )


def _exact_choice(value: float, choices: list[float], what: str, unit: str) -> float:
    """The entry of `choices` equal to `value` (to rounding), else UserInputError."""
    for choice in choices:
        if math.isclose(value, choice, rel_tol=1e-9):
            return choice
    listed = ", ".join(f"{choice:g}" for choice in choices)
    raise UserInputError(f"{what} {value:g} {unit} is not one the SR830 offers ({listed} {unit}); refusing to round it")


def _in_range(value: float, bounds: tuple[float, float], what: str, unit: str) -> float:
    if not bounds[0] <= value <= bounds[1]:
        raise UserInputError(
            f"{what} {value:g} {unit} is outside the SR830's range [{bounds[0]:g}, {bounds[1]:g}] {unit}"
        )
    return value


@dataclass(frozen=True)
class LockinSettings:
    """Lock-in settings from the station file, checked against what the SR830 offers.
    None leaves that setting as the instrument has it."""

    time_constant: float | None = None  # s, OFLT
    sensitivity: float | None = None  # V, SENS
    frequency: float | None = None  # Hz, FREQ (internal reference)
    amplitude: float | None = None  # V rms, SLVL (drives the field coil)
    phase: float | None = None  # degrees, PHAS

    def __post_init__(self) -> None:
        # Snap the discrete ones onto the driver's own table entries, so the strict
        # validators see exactly the values they list.
        if self.time_constant is not None:
            choice = _exact_choice(self.time_constant, SR830.TIME_CONSTANTS, "time_constant", "s")
            object.__setattr__(self, "time_constant", choice)
        if self.sensitivity is not None:
            choice = _exact_choice(self.sensitivity, SR830.SENSITIVITIES, "sensitivity", "V")
            object.__setattr__(self, "sensitivity", choice)
        if self.frequency is not None:
            _in_range(self.frequency, FREQUENCY_RANGE_HZ, "frequency", "Hz")
        if self.amplitude is not None:
            _in_range(self.amplitude, AMPLITUDE_RANGE_V, "amplitude", "V")
        if self.phase is not None:
            _in_range(self.phase, PHASE_RANGE_DEG, "phase", "deg")

    @classmethod
    def from_config(cls, config: dict) -> "LockinSettings":
        return cls(
            time_constant=setting(config, "time_constant", "time", default=None),
            sensitivity=setting(config, "sensitivity", "voltage", default=None),
            frequency=setting(config, "frequency", "frequency", default=None),
            amplitude=setting(config, "amplitude", "voltage", default=None),
            phase=quantity_setting(config, "phase", "degree", default=None),
        )

    def apply(self, lockin: StrictSR830) -> None:
        """Send the settings that are given (OFLT, SENS, FREQ, SLVL, PHAS, in that order)."""
        for known in LOCKIN_SETTINGS:
            value = getattr(self, known.field)
            if value is not None:
                guarded(f"SR830 {known.command} {value:g}",
                        lambda: setattr(lockin, known.attribute, value))

    def confirm(self, lockin: StrictSR830) -> None:
        """Read back each setting that is given; InstrumentError for one the SR830 did not take."""
        for known in LOCKIN_SETTINGS:
            wanted = getattr(self, known.field)
            if wanted is None:
                continue
            present = known.read(lockin)
            if not known.matches(present, wanted):
                raise InstrumentError(
                    f"SR830 {known.command}?: the lock-in reads {known.field} {present:g} {known.unit} after being "
                    f"set to {wanted:g} {known.unit}; the setting did not take{known.hint}"
                )


def _same_entry(present: float, wanted: float) -> bool:
    return math.isclose(present, wanted, rel_tol=1e-9)


def _same_frequency(present: float, wanted: float) -> bool:
    # the SR830 sets the frequency to 4 1/2 digits or 0.1 mHz, whichever is coarser
    return abs(present - wanted) <= max(1e-4 * wanted, 1e-4)


def _same_amplitude(present: float, wanted: float) -> bool:
    return abs(present - wanted) <= 0.002 + 1e-9  # the sine output's 2 mV resolution


def _same_phase(present: float, wanted: float) -> bool:
    # the SR830 wraps the phase into +-180 degrees (PHAS 541 reads back -179), to 0.01 degree
    return abs((present - wanted + 180.0) % 360.0 - 180.0) <= 0.01 + 1e-9


@dataclass(frozen=True)
class LockinSetting:
    """One lock-in setting a station file may give: its `LockinSettings` field, the
    `StrictSR830` property and command that reach it, and how it reads back."""

    field: str
    attribute: str
    command: str
    snapshot_key: str
    unit: str
    matches: Callable[[float, float], bool]  # (read back, wanted): the setting took
    hint: str = ""  # why it may not have taken, for the refusal

    def read(self, lockin: StrictSR830) -> float:
        """The present value (SI units, degrees for the phase) from `<command>?`."""
        return query(f"SR830 {self.command}?", lambda: getattr(lockin, self.attribute), CAST_NUMBER,
                     reply_of=f"{self.command}?", source="lock-in")


LOCKIN_SETTINGS = (
    LockinSetting("time_constant", "time_constant", "OFLT", "time_constant_s", "s", _same_entry),
    LockinSetting("sensitivity", "sensitivity", "SENS", "sensitivity_V", "V", _same_entry),
    LockinSetting("frequency", "frequency", "FREQ", "frequency_Hz", "Hz", _same_frequency,
                  " (an external reference ignores FREQ: check FMOD on the front panel)"),
    LockinSetting("amplitude", "sine_voltage", "SLVL", "amplitude_V", "V", _same_amplitude),
    LockinSetting("phase", "phase", "PHAS", "phase_deg", "deg", _same_phase),
)


def read_lockin_settings(lockin: StrictSR830) -> dict[str, float]:
    """Every setting of LOCKIN_SETTINGS as the lock-in has it now, for snapshots."""
    return {known.snapshot_key: known.read(lockin) for known in LOCKIN_SETTINGS}


def connected_on_sr830(adapter_class: type[R], context: HardwareContext, config: dict, arguments: dict) -> R:
    """`adapter_class(lockin, **arguments)` on the SR830 of the block `config` (its address,
    its `timeout`), connected. Built once without an instrument first: every check of the
    block comes before anything is opened."""
    address = str(setting(config, "address"))
    adapter_class(None, **arguments)
    # Over GPIB the SR830 ends its replies with a line feed (manual, "GPIB communications").
    adapter = context.visa_adapter(address, timeout=timeout_ms(config), read_termination="\n", write_termination="\n")
    return connected(adapter_class(StrictSR830(adapter), **arguments), address)


def check_sr830(identity: str) -> None:
    """Refuse an instrument that is not an SR830 (a wrong address) before anything is sent to it."""
    check_identity(
        identity, "SR830", lambda identity: f"expected a Stanford Research SR830, the instrument says {identity!r}"
    )


def read_xy(lockin: StrictSR830) -> tuple[float, float]:
    """X and Y (V rms), taken at one instant (SNAP? 1,2)."""
    values = guarded("SR830 SNAP? 1,2", lambda: lockin.snap("X", "Y"))
    if not isinstance(values, (list, tuple)) or len(values) != 2:
        raise InstrumentError(f"SR830 SNAP? 1,2: the lock-in answered {values!r}, not X,Y")
    x = checked_reply(values[0], CAST_NUMBER, "SNAP? 1,2 (X)", "lock-in")
    y = checked_reply(values[1], CAST_NUMBER, "SNAP? 1,2 (Y)", "lock-in")
    return x, y


def lockin_faults(lockin: StrictSR830) -> list[str]:
    """The faults LIAS? reports (reading it clears them): overloads, a lost reference."""
    status = guarded("SR830 LIAS?", lambda: lockin.lia_status)
    return [text for flag, text in LOCKIN_FAULTS.items() if status & flag]


def sample_count(integration_time: float) -> int:
    """How many samples make one reading of `integration_time` seconds."""
    return max(1, min(MAX_SAMPLES_PER_READING, int(integration_time / SAMPLE_INTERVAL_S)))


def averaged_output(
    lockin: StrictSR830, integration_time: float, pacer: Pacer, output: Callable[[float, float], float], refusal: str
) -> float:
    """The mean of `output(X, Y)` (V) over `integration_time` s: samples spread over it, each
    after its share of the time on the pacer. LIAS? is read before (clearing what was
    latched earlier) and after: an overload or a lost reference meanwhile refuses the
    reading as "SR830 reported <faults> during the reading; <refusal>"."""
    lockin_faults(lockin)
    count = sample_count(integration_time)
    samples = []
    for _ in range(count):
        pacer.wait(integration_time / count)
        samples.append(output(*read_xy(lockin)))
    faults = lockin_faults(lockin)
    if faults:
        raise InstrumentError(f"SR830 reported {', '.join(faults)} during the reading; {refusal}")
    return float(np.mean(samples))


class SR830SquidReadout(SquidReadout):
    """DC flux (Phi0) from the FLL output on an SR830 aux input, and AC susceptibility
    (Phi0/A) from the SR830's X output.

    Build it around an open `StrictSR830` (tests use pymeasure's protocol adapter) or from a
    station-file block with `from_config`. Sends nothing until asked; `connect` checks the
    model and applies the lock-in settings.
    """

    def __init__(
        self,
        lockin: StrictSR830,
        *,
        phi0_per_volt: float,
        phi0_per_volt_lockin: float,
        field_coil_current: float,
        pickup_radius: float,
        unlock_threshold: float,
        flux_input: int = 1,
        lockin_settings: LockinSettings = LockinSettings(),
    ) -> None:
        super().__init__()
        if isinstance(flux_input, bool) or flux_input not in AUX_INPUTS:
            raise UserInputError(f"flux_input must be an SR830 aux input 1-4, got {flux_input!r}")
        for name, value in (("phi0_per_volt", phi0_per_volt), ("phi0_per_volt_lockin", phi0_per_volt_lockin)):
            if not (math.isfinite(value) and value != 0):
                raise UserInputError(f"{name} must be a non-zero calibration (Phi0/V), got {value!r}")
        if not field_coil_current > 0:
            raise UserInputError(f"field_coil_current must be positive (A rms), got {field_coil_current!r}")
        if not pickup_radius > 0:
            raise UserInputError(f"pickup_radius must be positive (m), got {pickup_radius!r}")
        if not 0 < unlock_threshold <= AUX_INPUT_RANGE_V:
            raise UserInputError(
                f"unlock_threshold must be in (0, {AUX_INPUT_RANGE_V}] V (the aux input range), "
                f"got {unlock_threshold!r}"
            )
        self.lockin = lockin
        self.flux_input = flux_input
        self.phi0_per_volt = float(phi0_per_volt)
        self.phi0_per_volt_lockin = float(phi0_per_volt_lockin)
        self.field_coil_current = float(field_coil_current)
        self._pickup_radius = float(pickup_radius)
        self.unlock_threshold = float(unlock_threshold)
        self.lockin_settings = lockin_settings
        log_wire(lockin, "SR830", logger)

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "SR830SquidReadout":
        """Check a station-file block, open the lock-in, check it is an SR830, apply its settings."""
        check_known_keys(
            config,
            {
                "address", "flux_input", "phi0_per_volt", "phi0_per_volt_lockin", "field_coil_current",
                "pickup_radius", "unlock_threshold", "timeout", *(field.name for field in fields(LockinSettings)),
            },
        )
        arguments = dict(
            flux_input=setting(config, "flux_input", default=1),
            phi0_per_volt=quantity_setting(config, "phi0_per_volt", "Phi0/V"),
            phi0_per_volt_lockin=quantity_setting(config, "phi0_per_volt_lockin", "Phi0/V"),
            field_coil_current=setting(config, "field_coil_current", "current"),
            pickup_radius=setting(config, "pickup_radius", "length"),
            unlock_threshold=setting(config, "unlock_threshold", "voltage"),
            lockin_settings=LockinSettings.from_config(config),
        )
        return connected_on_sr830(cls, context, config, arguments)

    def connect(self) -> None:
        """Refuse another model; apply the station file's lock-in settings (OFLT, SENS, FREQ, SLVL, PHAS)."""
        check_sr830(self.identity())
        self.lockin_settings.apply(self.lockin)

    # --- identity and snapshot

    def identity(self) -> str:
        return read_identity(self.lockin, "SR830 *IDN?")

    @property
    def pickup_radius(self) -> float:
        return self._pickup_radius

    def snapshot(self) -> dict:
        base = super().snapshot()
        return {
            **base,
            "flux_input": self.flux_input,
            "phi0_per_volt": self.phi0_per_volt,
            "phi0_per_volt_lockin": self.phi0_per_volt_lockin,
            "field_coil_current_A": self.field_coil_current,
            "unlock_threshold_V": self.unlock_threshold,
            "lockin": read_lockin_settings(self.lockin),
        }

    # --- readings

    def read_fll_volts(self) -> float:
        """The FLL output (V) on the flux aux input, one sample."""
        command = f"OAUX? {self.flux_input}"
        return query(command, lambda: getattr(self.lockin, f"aux_in_{self.flux_input}"), CAST_NUMBER, source="lock-in")

    def _is_railed(self, volts: float) -> bool:
        return abs(volts) >= self.unlock_threshold

    def is_locked(self) -> bool:
        """True while the FLL output stays inside +-unlock_threshold (a railed output means unlocked)."""
        return not self._is_railed(self.read_fll_volts())

    def _require_lock(self, volts: float) -> None:
        if self._is_railed(volts):
            raise InstrumentError(
                f"SQUID flux-locked loop unlocked: output {volts:+.4f} V reached the +-{self.unlock_threshold:g} V "
                "rail threshold; no flux reading"
            )

    def read_flux(self, integration_time: float, pacer: Pacer) -> float:
        """Mean flux (Phi0) over `integration_time` s: the FLL output sampled across it, times phi0_per_volt."""
        count = sample_count(integration_time)
        samples = []
        for _ in range(count):
            pacer.wait(integration_time / count)
            volts = self.read_fll_volts()
            self._require_lock(volts)
            samples.append(volts)
        return float(np.mean(samples)) * self.phi0_per_volt

    def read_lockin_xy(self) -> tuple[float, float]:
        """X and Y (V rms), taken at one instant (SNAP? 1,2)."""
        return read_xy(self.lockin)

    def read_susceptibility(self, integration_time: float, pacer: Pacer) -> float:
        """Mean susceptibility (Phi0/A) over `integration_time` s: X times phi0_per_volt_lockin over
        field_coil_current. Refused if the lock-in overloaded or lost its reference meanwhile, or
        the FLL is unlocked at the end (X then means nothing)."""
        in_phase = averaged_output(self.lockin, integration_time, pacer, lambda x, y: x, "no susceptibility")
        self._require_lock(self.read_fll_volts())
        return in_phase * self.phi0_per_volt_lockin / self.field_coil_current


# The outputs a touchdown reading may take, from one SNAP? 1,2 sample (V): X, or R as the
# SR830 computes it from X and Y.
TOUCHDOWN_OUTPUTS: dict[str, Callable[[float, float], float]] = {"X": lambda x, y: x, "R": math.hypot}


class SR830TouchdownSensor(TouchdownSensor):
    """The out-of-balance signal (V) of the capacitance bridge between the sensor chip and
    the sample, read by an SR830: its `output` (X or R).

    Build it around an open `StrictSR830` (tests use pymeasure's protocol adapter) or from a
    station-file block with `from_config`. Sends nothing until asked; `connect` checks the
    model, applies the lock-in settings and reads them back.
    """

    def __init__(
        self, lockin: StrictSR830, *, output: str = "X", lockin_settings: LockinSettings = LockinSettings()
    ) -> None:
        super().__init__()
        if not isinstance(output, str) or output not in TOUCHDOWN_OUTPUTS:
            raise UserInputError(f"output must be one of {', '.join(TOUCHDOWN_OUTPUTS)}, got {output!r}")
        self.lockin = lockin
        self.output = output
        self.lockin_settings = lockin_settings
        log_wire(lockin, "SR830 touchdown bridge", logger)

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "SR830TouchdownSensor":
        """Check a station-file block, open the lock-in, check it is an SR830, apply and read back its settings."""
        check_known_keys(config, {"address", "output", "timeout", *(field.name for field in fields(LockinSettings))})
        arguments = dict(
            output=setting(config, "output", default="X"), lockin_settings=LockinSettings.from_config(config)
        )
        return connected_on_sr830(cls, context, config, arguments)

    def connect(self) -> None:
        """Refuse another model; apply the lock-in settings of the block, then read each back."""
        check_sr830(self.identity())
        self.lockin_settings.apply(self.lockin)
        self.lockin_settings.confirm(self.lockin)

    def identity(self) -> str:
        return read_identity(self.lockin, "SR830 *IDN?")

    def snapshot(self) -> dict:
        return {**super().snapshot(), "output": self.output, "lockin": read_lockin_settings(self.lockin)}

    def read_signal(self, integration_time: float, pacer: Pacer) -> float:
        """The bridge signal (V rms): the chosen output averaged over `integration_time` s. Refused
        if the lock-in overloaded or lost its reference meanwhile (the output is then clipped)."""
        return averaged_output(
            self.lockin, integration_time, pacer, TOUCHDOWN_OUTPUTS[self.output], "no touchdown signal"
        )
