"""Yokogawa GS200 DC source as the station's `CurrentSource`, in current mode.

Wraps pymeasure's `YokogawaGS200`; like the Keithley 6221 adapter it can be built
around an existing pymeasure instrument (tests inject one made by
`pymeasure.test.expected_protocol`), and `from_config` opens it from a station file's
`hardware:` block:

    current_source: {driver: yokogawa_gs200, address: "GPIB0::1::INSTR", compliance: 2 V}

The role ramps in software from the measured level (`ramp_to` of sqm.roles), so only
its primitives are here. Every exchange goes through the shared helpers of
sqm.drivers.scpi (guarded, parsed replies, identity, error queue, wire log).
"""

from __future__ import annotations

import logging
import math
import warnings

from sqm.errors import InstrumentError, UserInputError
from sqm.roles import CurrentSource

from .base import FLAG, HardwareContext, check_known_keys, guarded, setting
from .scpi import NamedExchanges, check_error_queue, identify, log_wire, timeout_ms

logger = logging.getLogger(__name__)

# The GS200's current ranges (A) and the largest level each takes: 120 % of the range,
# except on the 200 mA range, which ends at 200 mA.
GS200_CURRENT_RANGES_A = {1e-3: 1.2e-3, 10e-3: 12e-3, 100e-3: 120e-3, 200e-3: 200e-3}
GS200_COMPLIANCE_RANGE_V = (1.0, 30.0)  # the voltage limit in current mode
GS200_MODEL = r"\bGS2\d\d\b"  # *IDN? answers YOKOGAWA,GS2xx,<serial>,<firmware>

# Exact commands, sent raw: pymeasure's `voltage_limit` setter truncates out-of-range
# values silently, and its `source_level` setter queries the range before every step.
GS200_SET_LEVEL = "SOURce:LEVel %g"
GS200_SET_COMPLIANCE = "SOURce:PROTection:VOLTage %g"
GS200_LEVEL = ":SOURce:LEVel?"
GS200_OUTPUT = "OUTPut:STATe?"
GS200_COMPLIANCE = "SOURce:PROTection:VOLTage?"
GS200_FUNCTION = ":SOURce:FUNCtion?"
GS200_RANGE = ":SOURce:RANGe?"


class YokogawaGS200Source(NamedExchanges, CurrentSource):
    """Bias current (A) from a Yokogawa GS200 in current mode, ramped in software by the role.

    Wire commands: `*IDN?`, `SYST:ERR?` (after every command that changes the output),
    `:SOURce:FUNCtion?` and `:SOURce:RANGe?` (at connection), `:SOURce:LEVel?`,
    `SOURce:LEVel %g`, `SOURce:PROTection:VOLTage?`, `SOURce:PROTection:VOLTage %g`,
    `OUTPut:STATe?`, `OUTPut:STATe 0|1`; line feed ends every message both ways.

    Safety beyond the role's: the source must be in current mode (a GS200 left in
    voltage mode is refused at connection, not switched: that is a front-panel decision
    with the output off); a level beyond what its present current range takes (read at
    connection) is refused before anything is sent, and the compliance (voltage limit,
    1-30 V) is checked before it is sent and set before every switch-on.
    """

    def __init__(self, instrument, compliance: float = 2.0, name: str = "Yokogawa GS200") -> None:
        """`instrument`: an open pymeasure `YokogawaGS200`; `compliance` in V, applied before
        the output is switched on. Reads the identity, the error queue, the source mode
        and the current range."""
        super().__init__()
        low, high = GS200_COMPLIANCE_RANGE_V
        if not (isinstance(compliance, (int, float)) and low <= compliance <= high):
            raise UserInputError(f"compliance {compliance!r} V is outside the GS200's range [{low:g}, {high:g}] V")
        self.instrument = instrument
        self.name = name
        self.compliance = float(compliance)
        log_wire(instrument, name, logger)
        self._identity = identify(instrument, name, GS200_MODEL)
        check_error_queue(instrument, name)
        self._check_current_mode()
        self.current_range = self._read_current_range()
        self.max_current = GS200_CURRENT_RANGES_A[self.current_range]

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "YokogawaGS200Source":
        """Settings: address (VISA resource), compliance (V, default 2 V), timeout (s, default 5 s)."""
        from pymeasure.instruments.yokogawa import YokogawaGS200

        check_known_keys(config, {"address", "compliance", "timeout"})
        address = str(setting(config, "address"))
        compliance = setting(config, "compliance", "voltage", 2.0)
        adapter = context.visa_adapter(
            address, timeout=timeout_ms(config), read_termination="\n", write_termination="\n"
        )
        with warnings.catch_warnings():  # pymeasure asks whether the GS200 speaks SCPI: it does (SYST:ERR?)
            warnings.filterwarnings("ignore", "It is not known whether this device support SCPI", FutureWarning)
            instrument = guarded(f"Yokogawa GS200 at {address}: open", lambda: YokogawaGS200(adapter))
        return cls(instrument, compliance=compliance, name=f"Yokogawa GS200 at {address}")

    def identity(self) -> str:
        return self._identity

    def _check_current_mode(self) -> None:
        what = f"read the source mode ({GS200_FUNCTION})"
        function = str(self._exchange(what, lambda: self.instrument.ask(GS200_FUNCTION)))
        if function.strip().upper() not in ("CURR", "CURRENT"):
            raise InstrumentError(
                f"{self.name}: sources {function.strip()!r}, not current (CURR); switch it to current mode "
                "with the output off before using it as the current source"
            )

    def _read_current_range(self) -> float:
        """The present current range (A), one of GS200_CURRENT_RANGES_A."""
        reply = self._query(GS200_RANGE, "read the current range", lambda: self.instrument.ask(GS200_RANGE))
        for known in GS200_CURRENT_RANGES_A:
            if math.isclose(reply, known, rel_tol=1e-6):
                return known
        raise InstrumentError(f"{self.name}: {GS200_RANGE} answered {reply:g} A, not one of the GS200's current ranges")

    def read_current(self) -> float:
        """The programmed source level (A), `:SOURce:LEVel?` (what it sources while the output is on)."""
        return self._query(GS200_LEVEL, "read the current", lambda: self.instrument.ask(GS200_LEVEL))

    def output_enabled(self) -> bool:
        """Whether the output is on (`OUTPut:STATe?`)."""
        # asked raw: pymeasure's mapped `source_enabled` raises a KeyError on any other reply, losing it
        return self._query(GS200_OUTPUT, "read the output state", lambda: self.instrument.ask(GS200_OUTPUT), FLAG)

    def read_compliance(self) -> float:
        """The present voltage limit (V), `SOURce:PROTection:VOLTage?`."""
        return self._query(GS200_COMPLIANCE, "read the compliance", lambda: self.instrument.ask(GS200_COMPLIANCE))

    def _check_in_range(self, amps: float) -> None:
        if not (math.isfinite(amps) and abs(amps) <= self.max_current):
            raise InstrumentError(
                f"{self.name}: {amps!r} A is outside the GS200's range of +-{self.max_current:g} A "
                f"(its {self.current_range:g} A range); refusing"
            )

    def check_target(self, target: float, rate: float | None = None) -> None:
        """Refuse a ramp to `target` (A) beyond the present current range before any command
        (the role calls it after the station limits, whose reason comes first)."""
        self._check_in_range(target)

    def _apply_current(self, amps: float) -> None:
        """Send `SOURce:LEVel <amps>` (A) after checking the range, then read the error queue
        (which also makes sure the step was taken before the ramp's wait starts)."""
        self._check_in_range(amps)
        self._exchange("set the current (SOURce:LEVel)", lambda: self.instrument.write(GS200_SET_LEVEL % amps))
        check_error_queue(self.instrument, self.name)

    def _set_output(self, enabled: bool) -> None:
        """Switch the output (`OUTPut:STATe 0|1`); before switching on, set the configured
        voltage limit, so a wiring fault cannot see a high voltage."""
        if enabled:
            self._exchange(
                "set the compliance (SOURce:PROTection:VOLTage)",
                lambda: self.instrument.write(GS200_SET_COMPLIANCE % self.compliance),
            )
            check_error_queue(self.instrument, self.name)  # never switch on if the limit was refused
        state = 1 if enabled else 0
        self._exchange(
            f"switch the output (OUTPut:STATe {state})", lambda: setattr(self.instrument, "source_enabled", enabled)
        )
        if not enabled:  # the GS200 keeps its level with the output off: see Keithley6221Source._set_output
            self._exchange("program 0 A (SOURce:LEVel 0)", lambda: self.instrument.write(GS200_SET_LEVEL % 0.0))
        check_error_queue(self.instrument, self.name)

    def snapshot(self) -> dict:
        return {
            **super().snapshot(),
            "compliance_V": self.read_compliance(),
            "configured_compliance_V": self.compliance,
            "current_range_A": self.current_range,
        }
