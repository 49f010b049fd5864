"""Keithley 6221 current source and Keithley 2182A nanovoltmeter behind their roles.

Both adapters wrap pymeasure's drivers (`Keithley6221`, `Keithley2182`). They can be
built around an existing pymeasure instrument object (tests inject one made by
`pymeasure.test.expected_protocol`); `from_config` opens the VISA connection from a
station file's `hardware:` block:

    current_source: {driver: keithley6221, address: "GPIB0::12::INSTR", compliance: 2 V}
    voltmeter: {driver: keithley2182, address: "GPIB0::7::INSTR", line_frequency: 50 Hz}

Wire commands (exact SCPI strings) are listed in the adapters' docstrings; every
exchange goes through `guarded`, so a timeout or a driver error becomes an
InstrumentError that names the instrument and the exchange, and every reply through
`parsed_reply`, so garbage is one line naming the instrument, the command and the reply
(the shared helpers of sqm.drivers.scpi). Every message and reply is logged at DEBUG.
"""

from __future__ import annotations

import logging
import math

from sqm.errors import InstrumentError, UserInputError
from sqm.pacing import Pacer
from sqm.roles import CurrentSource, Voltmeter

from .base import FLAG, HardwareContext, check_known_keys, guarded, setting
from .scpi import NamedExchanges, check_error_queue, identify, log_wire, timeout_ms

logger = logging.getLogger(__name__)

# The 6221's own ranges (Model 6221 reference manual); pymeasure's driver clamps to
# these silently, so we refuse outside them before anything is sent.
K6221_MAX_CURRENT_A = 0.105
K6221_COMPLIANCE_RANGE_V = (0.1, 105.0)

# Exact SCPI strings sent with raw writes, where pymeasure's property would clamp.
K6221_SET_CURRENT = ":SOUR:CURR %g"
K6221_SET_COMPLIANCE = ":SOUR:CURR:COMP %g"

# The 2182A integrates for 0.01 to 50 power-line cycles at 50 Hz (60 at 60 Hz): 1 s at most.
K2182_MIN_NPLC = 0.01
K2182_MAX_NPLC = {50.0: 50.0, 60.0: 60.0}
K2182_MAX_RANGE_V = 120.0  # channel 1

DEFAULT_TIMEOUT_S = 5.0  # VISA timeout: covers the longest 2182A reading (1 s plus autozero)


class Keithley6221Source(NamedExchanges, CurrentSource):
    """Bias current from a Keithley 6221 (A), ramped in software by the role.

    Wire commands: `*IDN?`, `SYST:ERR?` (after every command that changes the output),
    `:SOUR:CURR?`, `:SOUR:CURR %g`, `:SOUR:CURR:COMP?`, `:SOUR:CURR:COMP %g`,
    `OUTPut?`, `OUTPut 0|1`.

    Safety beyond the role's: the 6221's own range (|I| <= 105 mA, compliance
    0.1-105 V) is checked before sending, because pymeasure's `source_current` and
    `source_compliance` setters clamp out-of-range values silently; the compliance is
    set to the configured (low) value before every switch-on.
    """

    def __init__(self, instrument, compliance: float = 2.0, name: str = "Keithley 6221") -> None:
        """`instrument`: an open pymeasure `Keithley6221`; `compliance` in V, applied
        before the output is switched on. Reads the identity and the error queue."""
        super().__init__()
        low, high = K6221_COMPLIANCE_RANGE_V
        if not (isinstance(compliance, (int, float)) and low <= compliance <= high):
            raise UserInputError(f"compliance {compliance!r} V is outside the 6221's range [{low:g}, {high:g}] V")
        self.instrument = instrument
        self.name = name
        self.compliance = float(compliance)
        log_wire(instrument, name, logger)
        self._identity = identify(instrument, name, r"\b622[01]\b")
        check_error_queue(instrument, name)

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "Keithley6221Source":
        """Settings: address (VISA resource), compliance (V, default 2 V), timeout (s, default 5 s)."""
        from pymeasure.instruments.keithley import Keithley6221

        check_known_keys(config, {"address", "compliance", "timeout"})
        address = str(setting(config, "address"))
        compliance = setting(config, "compliance", "voltage", 2.0)
        adapter = context.visa_adapter(
            address, timeout=timeout_ms(config, DEFAULT_TIMEOUT_S), read_termination="\n", write_termination="\n"
        )
        instrument = guarded(f"Keithley 6221 at {address}: open", lambda: Keithley6221(adapter))
        return cls(instrument, compliance=compliance, name=f"Keithley 6221 at {address}")

    def identity(self) -> str:
        return self._identity

    def read_current(self) -> float:
        """The programmed source level (A), queried with `:SOUR:CURR?`.

        The 6221 has no separate readback of its output current: this is the level it
        sources while the output is on (and would source on switching on).
        """
        return self._query(":SOUR:CURR?", "read the current", lambda: self.instrument.source_current)

    def output_enabled(self) -> bool:
        """Whether the output is on (`OUTPut?`)."""
        # asked raw: pymeasure's mapped `source_enabled` raises a KeyError on any other reply, losing it
        return self._query("OUTPut?", "read the output state", lambda: self.instrument.ask("OUTPut?"), FLAG)

    def read_compliance(self) -> float:
        """The instrument's present voltage compliance (V), `:SOUR:CURR:COMP?`."""
        return self._query(":SOUR:CURR:COMP?", "read the compliance", lambda: self.instrument.source_compliance)

    def _check_in_range(self, amps: float) -> None:
        if not (math.isfinite(amps) and abs(amps) <= K6221_MAX_CURRENT_A):
            raise InstrumentError(
                f"{self.name}: {amps!r} A is outside the 6221's range of +-{K6221_MAX_CURRENT_A:g} A; "
                "refusing (the driver would clamp it silently)"
            )

    def check_target(self, target: float, rate: float | None = None) -> None:
        """Refuse a ramp to `target` (A) beyond the 6221's range before any command.

        The role calls it after the station limits (their reason comes first when both
        apply). Without it a ramp towards, say, 200 mA under generous station limits
        would send every step up to 105 mA before `_apply_current` refused one.
        """
        self._check_in_range(target)

    def _apply_current(self, amps: float) -> None:
        """Send `:SOUR:CURR <amps>` (A) after checking the 6221's range, then read the error queue.

        The query also makes sure the step was taken before the ramp's wait starts.
        """
        self._check_in_range(amps)
        self._exchange("set the current (:SOUR:CURR)", lambda: self.instrument.write(K6221_SET_CURRENT % amps))
        check_error_queue(self.instrument, self.name)

    def _set_output(self, enabled: bool) -> None:
        """Switch the output (`OUTPut 0|1`); before switching on, set the configured
        low compliance (`:SOUR:CURR:COMP`), so a wiring fault cannot see a high voltage.
        After switching off, program 0 A (`:SOUR:CURR 0`): the 6221 keeps its level with the
        output off, and after an emergency stop the role would read that level from a source
        delivering nothing and refuse every ramp, while switching on would source it at once."""
        if enabled:
            self._exchange(
                "set the compliance (:SOUR:CURR:COMP)",
                lambda: self.instrument.write(K6221_SET_COMPLIANCE % self.compliance),
            )
            check_error_queue(self.instrument, self.name)  # never switch on if the compliance was refused
        state = 1 if enabled else 0
        self._exchange(
            f"switch the output (OUTPut {state})", lambda: setattr(self.instrument, "source_enabled", enabled)
        )
        if not enabled:
            self._exchange("program 0 A (:SOUR:CURR 0)", lambda: self.instrument.write(K6221_SET_CURRENT % 0.0))
        check_error_queue(self.instrument, self.name)

    def snapshot(self) -> dict:
        return {
            **super().snapshot(),
            "compliance_V": self.read_compliance(),
            "configured_compliance_V": self.compliance,
        }


class Keithley2182Voltmeter(NamedExchanges, Voltmeter):
    """Four-probe voltage (V) from channel 1 of a Keithley 2182A nanovoltmeter.

    Wire commands: `*IDN?`, `SYST:ERR?`, `:SYST:LFR?`, `:SENS:CHAN 1`,
    `SENS:FUNC "VOLT:DC"`, `:SENS:VOLT:CHAN1:RANG:AUTO 1` or `:SENS:VOLT:CHAN1:RANG %g`,
    `:SENS:VOLT:NPLC %g`, `:READ?`; for the snapshot `:SENS:VOLT:NPLC?`,
    `:SENS:VOLT:CHAN1:RANG:AUTO?`, `:SENS:VOLT:CHAN1:RANG?`.

    A reading integrates for NPLC power-line cycles (0.01 to 50 at 50 Hz, 60 at 60 Hz,
    so at most 1 s): longer integration times are split into equal readings that are
    averaged. Readings are not clipped: an overflow comes back as the instrument's own
    +9.9E37.

    Delta mode, for low-noise resistance (not implemented here): the 6221 drives the
    2182A through the RS-232/Trigger-Link cable and alternates its output between +I
    and -I; each delta reading (V(+I) - V(-I)) / 2 cancels thermoelectric offsets
    and drift. With pymeasure it is set up on the 6221, not here: `delta_high_source
    = I` (the low level follows as -I), `delta_delay`, `delta_cycles`,
    `delta_measurement_sets`, `delta_compliance_abort_enabled = True`, then
    `delta_arm()`, `delta_start()`, read `delta_values` (`:TRAC:DATA?`) and finish with
    `delta_abort()`. It switches the current between +I and -I without a ramp, which
    the CurrentSource role never does, so it needs its own procedure that checks +-I
    against the station's bias limits and leaves the source at zero; while it runs
    the 2182A belongs to the 6221 and must not be addressed over GPIB. Without
    delta mode, the same cancellation is the two-sign reading the `resistance_vs_temperature`
    procedure already takes with the roles.
    """

    def __init__(
        self,
        instrument,
        line_frequency: float = 50.0,
        voltage_range: float | str = "auto",
        name: str = "Keithley 2182A",
    ) -> None:
        """`instrument`: an open pymeasure `Keithley2182`; `line_frequency` 50 or 60 Hz,
        checked against the instrument's own measurement; `voltage_range` "auto" or the
        channel-1 range in V (0-120 V). Identifies, checks the error queue and
        configures channel 1 for DC voltage."""
        super().__init__()
        if line_frequency not in K2182_MAX_NPLC:
            raise UserInputError(f"line_frequency must be 50 or 60 Hz, got {line_frequency!r}")
        if voltage_range != "auto" and not (
            isinstance(voltage_range, (int, float)) and 0 < voltage_range <= K2182_MAX_RANGE_V
        ):
            raise UserInputError(
                f"voltage_range must be 'auto' or in (0, {K2182_MAX_RANGE_V:g}] V, got {voltage_range!r}"
            )
        self.instrument = instrument
        self.name = name
        self.line_frequency = float(line_frequency)
        self.voltage_range = voltage_range
        # pymeasure allows up to 60 PLC whatever the line; at 50 Hz the instrument stops at 50.
        instrument.voltage_nplc_values = (K2182_MIN_NPLC, K2182_MAX_NPLC[self.line_frequency])
        log_wire(instrument, name, logger)
        self._identity = identify(instrument, name, r"\b2182A?\b")
        check_error_queue(instrument, name)
        self._check_line_frequency()
        self._configure_channel_1()

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "Keithley2182Voltmeter":
        """Settings: address, line_frequency (Hz, 50 or 60, default 50), voltage_range
        ("auto" or V, default auto), timeout (s, default 5 s)."""
        from pymeasure.instruments.keithley import Keithley2182

        check_known_keys(config, {"address", "line_frequency", "voltage_range", "timeout"})
        address = str(setting(config, "address"))
        line_frequency = setting(config, "line_frequency", "frequency", 50.0)
        voltage_range = config.get("voltage_range", "auto")
        if voltage_range != "auto":
            voltage_range = setting(config, "voltage_range", "voltage")
        adapter = context.visa_adapter(
            address, timeout=timeout_ms(config, DEFAULT_TIMEOUT_S), read_termination="\n", write_termination="\n"
        )
        instrument = guarded(f"Keithley 2182A at {address}: open", lambda: Keithley2182(adapter))
        return cls(instrument, line_frequency, voltage_range, name=f"Keithley 2182A at {address}")

    def identity(self) -> str:
        return self._identity

    def _check_line_frequency(self) -> None:
        """Integration times are counted in line cycles: a wrong line frequency in the
        station file would make every integration time wrong by 20 %."""
        measured = self._query(":SYST:LFR?", "read the line frequency", lambda: self.instrument.line_frequency)
        if abs(measured - self.line_frequency) > 1.0:
            raise InstrumentError(
                f"{self.name}: measures a {measured:g} Hz line but the station file says {self.line_frequency:g} Hz"
            )

    def _configure_channel_1(self) -> None:
        # Done once: changing function or range restarts the 2182A's reading pipeline.
        self._exchange("select channel 1 (:SENS:CHAN 1)", lambda: setattr(self.instrument, "active_channel", 1))
        self._exchange(
            "select DC volts (SENS:FUNC)", lambda: setattr(self.instrument, "channel_function", "voltage")
        )
        if self.voltage_range == "auto":
            self._exchange(
                "select autorange (:SENS:VOLT:CHAN1:RANG:AUTO 1)",
                lambda: setattr(self.instrument.ch_1, "voltage_range_auto_enabled", True),
            )
        else:
            self._exchange(
                "set the range (:SENS:VOLT:CHAN1:RANG)",
                lambda: setattr(self.instrument.ch_1, "voltage_range", self.voltage_range),
            )
        check_error_queue(self.instrument, self.name)

    def reading_plan(self, integration_time: float) -> tuple[int, float]:
        """How `integration_time` (s) is measured: (number of readings, NPLC of each).

        Refuses times shorter than one reading at the minimum 0.01 PLC.
        """
        shortest = K2182_MIN_NPLC / self.line_frequency
        if not (math.isfinite(integration_time) and integration_time >= shortest * (1 - 1e-9)):
            raise UserInputError(
                f"integration time {integration_time!r} s is shorter than the 2182A's shortest reading, {shortest:g} s"
            )
        max_nplc = K2182_MAX_NPLC[self.line_frequency]
        longest = max_nplc / self.line_frequency
        count = max(1, math.ceil(integration_time / longest - 1e-9))
        # Six significant digits, as sent; never above the maximum through float noise.
        nplc = min(float(f"{integration_time / count * self.line_frequency:.6g}"), max_nplc)
        return count, max(nplc, K2182_MIN_NPLC)

    def read_voltage(self, integration_time: float, pacer: Pacer) -> float:
        """Mean channel-1 voltage (V) over `integration_time` seconds.

        Sets the NPLC, then per reading sends `:READ?`, lets the integration time pass
        on the station's clock through `pacer` (so an abort is seen), and collects the
        reply.
        """
        count, nplc = self.reading_plan(integration_time)
        self._exchange(
            "set the integration time (:SENS:VOLT:NPLC)", lambda: setattr(self.instrument, "voltage_nplc", nplc)
        )
        check_error_queue(self.instrument, self.name)
        readings = [self._one_reading(nplc / self.line_frequency, pacer) for _ in range(count)]
        return sum(readings) / count

    def _one_reading(self, seconds: float, pacer: Pacer) -> float:
        self._exchange("start a reading (:READ?)", lambda: self.instrument.write(":READ?"))
        try:
            pacer.wait(seconds)
        except BaseException:
            # Collect the pending reply, so the next exchange does not read this stale one.
            try:
                self.instrument.read()
            except Exception:  # best effort: the abort's own reason is what the operator needs
                pass
            raise
        return self._query(":READ?", "read the voltage", self.instrument.read)

    def snapshot(self) -> dict:
        nplc = self._query(":SENS:VOLT:NPLC?", "read the NPLC", lambda: self.instrument.voltage_nplc)
        auto_query = ":SENS:VOLT:CHAN1:RANG:AUTO?"  # asked raw: pymeasure's mapped property loses a bad reply
        auto = self._query(auto_query, "read autorange", lambda: self.instrument.ask(auto_query), FLAG)
        voltage_range = self._query(
            ":SENS:VOLT:CHAN1:RANG?", "read the range", lambda: self.instrument.ch_1.voltage_range
        )
        return {
            **super().snapshot(),
            "line_frequency_Hz": self.line_frequency,
            "nplc": nplc,
            "autorange": auto,
            "voltage_range_V": voltage_range,
        }
