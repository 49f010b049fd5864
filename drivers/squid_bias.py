"""The nano-SQUID's own bias (A) and the voltage across it (V): the `squid_bias` role on hardware.

Two ways to fill it (docs/squid.md gives the why of the role):

* `squid_bias_pair`: a current source of this package (a Yokogawa GS200 or a second
  Keithley 6221) and a voltmeter (a Keithley 2182A), each the same adapter that fills
  the station's `current_source` or `voltmeter` role, behind an optional room-temperature
  preamplifier::

      squid_bias:
        driver: squid_bias_pair
        source: {driver: yokogawa_gs200, address: "GPIB0::2::INSTR", compliance: 1 V}
        voltmeter: {driver: keithley2182, address: "GPIB0::8::INSTR"}
        preamp_gain: 1000   # optional: V at the voltmeter per V across the SQUID; default 1

* `nidaq_squid_bias`: an NI-DAQ analog output through a bias resistor (current = AO
  volts / bias_resistance) and an analog input behind a preamplifier (SQUID voltage =
  AI volts / preamp_gain), with the same `nidaqmx` seam as sqm.drivers.nidaq::

      squid_bias: {driver: nidaq_squid_bias, device: Dev1, output: ao3, input: ai1,
                   bias_resistance: 10 kohm, preamp_gain: 1000, output_range: 10 V}

  Optional: `input_range` (V, default 10 V: the AI reads +-input_range) and
  `sample_rate` (Hz, default 10 kHz, of a voltage reading). The output and input must
  not be channels another role of the station uses (the scanner's axes, the FLL's input):
  the station file check refuses that.

A nano-SQUID dies from a current spike. Neither adapter ever steps the current: the
role's `ramp_to` (sqm.roles.SquidBias, within `limits.squid_bias`, from the measured
bias) is the only path to a new level, and the safe state ramps to zero before the
output goes off. Only `emergency_stop`, when the safe state has failed every attempt,
switches off without a ramp (the role's decision, not the adapters').
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from sqm.errors import InstrumentError, UserInputError
from sqm.pacing import Pacer
from sqm.roles import CurrentSource, SquidBias, Voltmeter

from .backend import _adapter_class, check_driver_block
from .base import HardwareContext, VisaPackageMissing, check_known_keys, guarded, quantity_setting, setting
from .nidaq import (
    AO_RANGE_V,
    DEFAULT_INPUT_RANGE_V,
    DEFAULT_READOUT_SAMPLE_RATE_HZ,
    MIN_FINITE_SAMPLES,
    READ_TIMEOUT_MARGIN_S,
    DAQmx,
    _device,
    _open_task,
    _physical_channel,
    _samples,
    load_nidaqmx,
)

DEFAULT_PREAMP_GAIN = 1.0  # no preamplifier: the voltmeter reads the SQUID itself


def _preamp_gain(gain: Any) -> float:
    """`gain` (V out per V across the SQUID; negative for an inverting preamp) as a float;
    UserInputError unless it is a finite, non-zero number."""
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain) or gain == 0:
        raise UserInputError(f"preamp_gain must be a finite, non-zero number (V per V), got {gain!r}")
    return float(gain)


# --------------------------------------------------------------------------- a source and a voltmeter


def _part(config: dict, key: str, role_name: str, context: HardwareContext) -> Any:
    """The adapter of the nested block `key` (`source` or `voltmeter`), checked and built as
    the same driver is as the station's `role_name` role; its errors name `key`."""
    block = setting(config, key)
    check_driver_block(block, role_name, key)
    try:
        return _adapter_class(block["driver"]).from_config(dict(block), context)
    except VisaPackageMissing:  # the station's visa_library, not this block: the backend names it
        raise
    except UserInputError as error:
        raise UserInputError(f"{key}: {error}") from None
    except InstrumentError as error:
        raise InstrumentError(f"{key}: {error}") from None


class SquidBiasPair(SquidBias):
    """The SQUID's bias (A) from a current source and its voltage (V) from a voltmeter.

    The current primitives go to the source: its reading of the level, its output state,
    its level and output commands with its own range checks, and its `check_target` (the
    GS200's present range, the 6221's +-105 mA), which the role calls after
    `limits.squid_bias` and before any command. `read_voltage` is the voltmeter's
    reading divided by `preamp_gain`.

    The source's own `ramp_to` and `safe_state` (those of a sample's bias, with
    `limits.bias_current`) are never used: the source gets no station limits, so they
    would refuse. The role's ramp (`SquidBias.ramp_to`: `limits.squid_bias`, from the
    measured level, steps of at most rate x 0.1 s) is the only path to a new current;
    nothing here steps it. The source switches on only at zero and with its configured
    compliance set first (its `_set_output`).
    """

    def __init__(self, source: CurrentSource, voltmeter: Voltmeter, preamp_gain: float = DEFAULT_PREAMP_GAIN) -> None:
        """`source`: an open CurrentSource adapter; `voltmeter`: an open Voltmeter adapter;
        `preamp_gain`: V at the voltmeter per V across the SQUID."""
        super().__init__()
        self.source = source
        self.voltmeter = voltmeter
        self.preamp_gain = _preamp_gain(preamp_gain)

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "SquidBiasPair":
        """Settings: source (a current_source driver's block), voltmeter (a voltmeter
        driver's block), preamp_gain (default 1). The gain is read before anything opens."""
        check_known_keys(config, {"source", "voltmeter", "preamp_gain"})
        gain = _preamp_gain(setting(config, "preamp_gain", "dimensionless", DEFAULT_PREAMP_GAIN))
        source = _part(config, "source", "current_source", context)
        voltmeter = _part(config, "voltmeter", "voltmeter", context)
        return cls(source, voltmeter, gain)

    def identity(self) -> str:
        gain = f", preamp gain {self.preamp_gain:g}" if self.preamp_gain != 1 else ""
        return f"bias {self.source.identity()}; voltage {self.voltmeter.identity()}{gain}"

    def check_target(self, target: float, rate: float | None = None) -> None:
        """The source's own limits on `target` (A): refused before any command."""
        self.source.check_target(target, rate)

    def read_current(self) -> float:
        """The source's level (A)."""
        return self.source.read_current()

    def output_enabled(self) -> bool:
        return self.source.output_enabled()

    def _apply_current(self, amps: float) -> None:
        self.source._apply_current(amps)

    def _set_output(self, enabled: bool) -> None:
        self.source._set_output(enabled)

    def read_voltage(self, integration_time: float, pacer: Pacer) -> float:
        """Mean voltage across the SQUID (V) over `integration_time` s: the voltmeter's
        reading divided by the preamp gain."""
        return self.voltmeter.read_voltage(integration_time, pacer) / self.preamp_gain

    def snapshot(self) -> dict:
        snapshot = {**super().snapshot(), "preamp_gain": self.preamp_gain}
        for part, role in (("source", self.source), ("voltmeter", self.voltmeter)):
            snapshot.update({f"{part}_{key}": value for key, value in role.snapshot().items()})
        return snapshot


# --------------------------------------------------------------------------- an NI-DAQ output and input


class NIDAQSquidBias(SquidBias):
    """The SQUID's bias (A) from an NI-DAQ analog output through a bias resistor, and the
    voltage across the SQUID (V) on an analog input behind a preamplifier.

    current = AO volts / bias_resistance (a resistor far above the SQUID's few ohms, so
    the current is set by it alone); SQUID voltage = mean AI volts / preamp_gain.

    The output voltage is measured through the X-series internal channel
    `_aoN_vs_aognd` when the adapter is built (and again after a write that failed, or
    when it is unknown), then it is the voltage this adapter wrote, as for the scanner's
    outputs (sqm.drivers.nidaq): the role ramps from it. A DAQ output always drives, so
    "off" is 0 V, tracked here: the output counts as on while it is not at 0 V (so a bias
    found flowing when the station starts is ramped down, never refused), off once the
    safe state has ramped it to 0 V. Each level is one on-demand write in a task of its
    own, closed at once (the output holds its last value), so the card's AO is free for
    the scanner between steps. A level beyond `output_range` is refused before anything is
    written (`check_target`, and again in `_apply_current`); the same range is the AO
    channel's min/max, so NI-DAQmx refuses it too. Readings are never clipped.
    """

    def __init__(
        self,
        daqmx: DAQmx,
        device: str,
        output: str,
        input: str,
        bias_resistance: float,
        preamp_gain: float = DEFAULT_PREAMP_GAIN,
        output_range: float = AO_RANGE_V,
        input_range: float = DEFAULT_INPUT_RANGE_V,
        sample_rate: float = DEFAULT_READOUT_SAMPLE_RATE_HZ,
    ) -> None:
        """`output`, `input`: AO and AI channels of `device` ('ao3' or 'Dev1/ao3');
        `bias_resistance` (ohm); `preamp_gain` (V/V); `output_range`, `input_range` (V,
        up to 10 V); `sample_rate` (Hz). Measures the present output voltage (no output
        changes)."""
        super().__init__()
        if not (math.isfinite(bias_resistance) and bias_resistance > 0):
            raise UserInputError(f"bias_resistance must be positive (ohm), got {bias_resistance!r}")
        for key, volts in (("output_range", output_range), ("input_range", input_range)):
            if not 0 < volts <= AO_RANGE_V:
                raise UserInputError(f"{key} must be in (0, {AO_RANGE_V:g}] V, got {volts!r}")
        if not (math.isfinite(sample_rate) and sample_rate > 0):
            raise UserInputError(f"sample_rate must be positive (Hz), got {sample_rate!r}")
        self.daqmx = daqmx
        self.device = device
        self.output = _daq_channel(device, output, "output", "ao")
        self.input = _daq_channel(device, input, "input", "ai")
        self.bias_resistance = float(bias_resistance)
        self.preamp_gain = _preamp_gain(preamp_gain)
        self.output_range = float(output_range)
        self.input_range = float(input_range)
        self.sample_rate = float(sample_rate)
        self._output_volts = self.measure_output_volts()
        self._enabled = self._output_volts != 0.0

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext, daqmx: DAQmx | None = None) -> "NIDAQSquidBias":
        """Check a station-file block, then load nidaqmx (unless `daqmx` is given) and measure the output."""
        check_known_keys(config, {"device", "output", "input", "bias_resistance", "preamp_gain", "output_range",
                                  "input_range", "sample_rate"})
        arguments = dict(
            device=_device(config),
            output=setting(config, "output"),
            input=setting(config, "input"),
            bias_resistance=quantity_setting(config, "bias_resistance", "ohm"),
            preamp_gain=setting(config, "preamp_gain", "dimensionless", DEFAULT_PREAMP_GAIN),
            output_range=setting(config, "output_range", "voltage", AO_RANGE_V),
            input_range=setting(config, "input_range", "voltage", DEFAULT_INPUT_RANGE_V),
            sample_rate=setting(config, "sample_rate", "frequency", DEFAULT_READOUT_SAMPLE_RATE_HZ),
        )
        return cls(daqmx if daqmx is not None else load_nidaqmx(), **arguments)

    # --- identity and snapshot

    def identity(self) -> str:
        return (f"NI-DAQ SQUID bias: {self.output} through {self.bias_resistance:g} ohm, voltage on {self.input} "
                f"(preamp gain {self.preamp_gain:g})")

    def snapshot(self) -> dict:
        return {
            **super().snapshot(),
            "device": self.device,
            "output": self.output,
            "input": self.input,
            "bias_resistance_ohm": self.bias_resistance,
            "preamp_gain": self.preamp_gain,
            "output_range_V": self.output_range,
            "input_range_V": self.input_range,
            "sample_rate_Hz": self.sample_rate,
            "output_volts_V": self._output_volts,
        }

    # --- the output

    def measure_output_volts(self) -> float:
        """The AO voltage (V) as the card measures it on its internal channel."""
        readback = f"{self.device}/_{self.output.partition('/')[2]}_vs_aognd"
        what = f"NI-DAQ {self.output} readback"

        def read() -> float:
            with _open_task(self.daqmx, what) as task:
                task.ai_channels.add_ai_voltage_chan(readback, min_val=-AO_RANGE_V, max_val=AO_RANGE_V)
                return float(_samples(task.read(number_of_samples_per_channel=1), 1).mean())

        return guarded(what, read)

    def read_current(self) -> float:
        """The bias (A): the output voltage (measured, then as written) / bias_resistance.
        An unknown voltage (a failed write) is measured again; refused if that fails too."""
        if not math.isfinite(self._output_volts):
            self._output_volts = self.measure_output_volts()
        return self._output_volts / self.bias_resistance

    def output_enabled(self) -> bool:
        """Whether the bias counts as on: an output at 0 V that the safe state switched off is off."""
        return self._enabled

    def check_target(self, target: float, rate: float | None = None) -> None:
        """Refuse a bias (A) whose AO voltage is beyond output_range, before any write."""
        volts = target * self.bias_resistance
        if not (math.isfinite(volts) and abs(volts) <= self.output_range):
            raise InstrumentError(
                f"NI-DAQ {self.output}: a SQUID bias of {target:.6g} A needs {volts:.6g} V across the "
                f"{self.bias_resistance:g} ohm bias resistor, beyond the output range +-{self.output_range:g} V; "
                "refusing"
            )

    def _apply_current(self, amps: float) -> None:
        """Write amps x bias_resistance (V) to the output, after checking the output range."""
        self.check_target(amps)
        self._write_volts(amps * self.bias_resistance)

    def _set_output(self, enabled: bool) -> None:
        """On: the role does it only at 0 V, so nothing is written. Off: 0 V (written unless
        the output is known to be there already: after the safe state's ramp it is)."""
        if not enabled and self._output_volts != 0.0:
            self._write_volts(0.0)
        self._enabled = enabled

    def _write_volts(self, volts: float) -> None:
        what = f"NI-DAQ {self.output} SQUID bias"
        try:
            with _open_task(self.daqmx, what) as task:
                guarded(what, lambda: task.ao_channels.add_ao_voltage_chan(
                    self.output, min_val=-self.output_range, max_val=self.output_range))
                guarded(what, lambda: task.write(volts, auto_start=True))
        except BaseException:
            # the failed write (or close) may or may not have reached the pin: measure it
            try:
                self._output_volts = self.measure_output_volts()
            except Exception:  # the write's error is the one to report; the level stays unknown
                self._output_volts = math.nan
            raise
        self._output_volts = float(volts)

    # --- the voltage

    def read_voltage(self, integration_time: float, pacer: Pacer) -> float:
        """Mean voltage across the SQUID (V) over `integration_time` s: the input sampled at
        sample_rate (at least two samples), the mean divided by the preamp gain."""
        count = max(MIN_FINITE_SAMPLES, math.ceil(integration_time * self.sample_rate - 1e-9))
        what = f"NI-DAQ {self.input} SQUID voltage"
        with _open_task(self.daqmx, what) as task:
            guarded(what, lambda: self._start_acquisition(task, count))
            pacer.wait(count / self.sample_rate)  # on the station's clock: an abort is seen
            volts = guarded(what, lambda: task.read(number_of_samples_per_channel=count,
                                                    timeout=READ_TIMEOUT_MARGIN_S))
        return float(np.mean(_samples(volts, 1))) / self.preamp_gain

    def _start_acquisition(self, task: Any, count: int) -> None:
        """A finite acquisition of `count` samples of the input at sample_rate, started."""
        task.ai_channels.add_ai_voltage_chan(self.input, min_val=-self.input_range, max_val=self.input_range)
        task.timing.cfg_samp_clk_timing(self.sample_rate, source="", active_edge=self.daqmx.rising_edge,
                                        sample_mode=self.daqmx.finite, samps_per_chan=count)
        task.start()


def _daq_channel(device: str, name: Any, key: str, kind: str) -> str:
    """The physical channel ('Dev1/ao3') of `name` on `device`; UserInputError naming `key`
    unless it is a channel of that device of the `kind` ('ao' or 'ai') wanted."""
    channel = _physical_channel(device, name, key)
    if not re.fullmatch(rf"{kind}\d+", channel.partition("/")[2]):
        raise UserInputError(f"{key}: expected an {kind.upper()} channel such as '{kind}0', got {name!r}")
    return channel
