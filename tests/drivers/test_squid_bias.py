"""The SQUID's own bias on hardware: a current source and a voltmeter (`squid_bias_pair`),
and an NI-DAQ output through a bias resistor with an input behind a preamp (`nidaq_squid_bias`).

1. The pair on the exact wire (pymeasure's expected_protocol: a pair left unused, or a
   message not in the list, fails the test), a GS200 and a 2182A: a ramp from the measured
   bias in steps of at most rate x 0.1 s, the voltage divided by the preamp gain, the
   safe state, and refusals before any command (limits.squid_bias, the GS200's range).
2. The pair from a station-file block through pyvisa-sim (drivers/sim/lab.yaml: a 6221
   and a 2182A), and the block checks of `validate_config`, each one line naming the key.
3. The NI-DAQ adapter against the fake nidaqmx of test_nidaq.py: the output measured
   through its internal channel, ramps from that value, current = volts / R, voltage =
   AI / gain, a level beyond output_range refused before any write, the safe state to 0 V.
4. `squid_iv` run to the end on the pyvisa-sim lab station whose squid_bias is the NI-DAQ
   adapter on the fake card, driving a resistive SQUID model wired between AO and AI.
"""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from pymeasure.instruments.keithley import Keithley2182
from pymeasure.instruments.yokogawa import YokogawaGS200
from pymeasure.test import expected_protocol

from sqm.drivers.backend import DRIVER_SETTINGS, SIM_FOLDER, _adapter_class, validate_config
from sqm.drivers.base import HardwareContext
from sqm.drivers.keithley import Keithley2182Voltmeter
from sqm.drivers.squid_bias import NIDAQSquidBias, SquidBiasPair
from sqm.drivers.yokogawa_gs200 import YokogawaGS200Source
from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.limits import StationLimits
from sqm.roles import RAMP_STEP_INTERVAL_S, SquidBias
from sqm.session import run_procedure
from sqm.station import Station

from ..conftest import CONFIGS
from .test_keithley import CONNECT_2182, IDN_2182
from .test_nidaq import FakeDAQ
from .test_yokogawa_gs200 import CONNECT as CONNECT_GS200
from .test_yokogawa_gs200 import IDN as IDN_GS200
from .test_yokogawa_gs200 import NO_ERROR

pytestmark = pytest.mark.filterwarnings("ignore:It is not known whether this device support SCPI:FutureWarning")

UA = 1e-6
LAB_SIM = CONFIGS / "stations" / "lab-pyvisa-sim.yaml"
LAB_EXAMPLE = CONFIGS / "stations" / "lab-example.yaml"
SQUID_BIAS_LIMITS = {"max_abs": "150 uA", "ramp_rate": "10 uA/s", "max_ramp_rate": "20 uA/s"}
PAIR_BLOCK = {
    "driver": "squid_bias_pair",
    "source": {"driver": "yokogawa_gs200", "address": "GPIB0::2::INSTR", "compliance": "1 V"},
    "voltmeter": {"driver": "keithley2182", "address": "GPIB0::8::INSTR"},
    "preamp_gain": 1000,
}
# 10 kohm and +-1 V: at most 100 uA, inside the station's 150 uA, so the DAQ's own range is tested
DAQ_BLOCK = {"driver": "nidaq_squid_bias", "device": "Dev1", "output": "ao3", "input": "ai1",
             "bias_resistance": "10 kohm", "preamp_gain": 1000, "output_range": "1 V"}
BIAS_RESISTANCE = 10e3


def station_limits(**squid_bias) -> StationLimits:
    """The default station file's limits (SQUID bias +-150 uA, 10 uA/s, at most 20 uA/s), the
    squid_bias block optionally replaced."""
    limits = yaml.safe_load((CONFIGS / "stations" / "sim.yaml").read_text())["limits"]
    limits["squid_bias"] = squid_bias or SQUID_BIAS_LIMITS
    return StationLimits.from_mapping(limits)


def sent_levels(pairs) -> list[float]:
    """The levels (A) of the `SOURce:LEVel <A>` commands among the GS200's pairs, in order."""
    return [float(command.split()[1]) for command, _ in pairs if command.startswith("SOURce:LEVel ")]


# --------------------------------------------------------------------------- the pair on the wire


@contextmanager
def pair_on_wire(source_pairs=(), voltmeter_pairs=(), limits: StationLimits | None = None):
    """A SquidBiasPair of a GS200 (1 mA range, 1 V compliance) and a 2182A behind a x1000
    preamp, each on a wire that expects its connection first, then its pairs."""
    with expected_protocol(YokogawaGS200, CONNECT_GS200 + list(source_pairs)) as gs200, \
            expected_protocol(Keithley2182, CONNECT_2182 + list(voltmeter_pairs)) as k2182:
        bias = SquidBiasPair(YokogawaGS200Source(gs200, compliance=1.0), Keithley2182Voltmeter(k2182), 1000)
        bias.attach_limits(limits or station_limits())
        yield bias


def nothing_sent_after_connecting(bias: SquidBiasPair) -> bool:
    return (bias.source.instrument.adapter._index, bias.voltmeter.instrument.adapter._index) == (
        len(CONNECT_GS200), len(CONNECT_2182))


RAMPS = {
    # measured 2 uA with the output on, to 5 uA at the station's 10 uA/s: 1 uA steps
    "from the measured level": (2 * UA, None, 10 * UA, 5 * UA, [
        (":SOURce:LEVel?", "+2.00000E-06"), ("OUTPut:STATe?", "1"),
        ("SOURce:LEVel 3e-06", None), NO_ERROR, ("SOURce:LEVel 4e-06", None), NO_ERROR,
        ("SOURce:LEVel 5e-06", None), NO_ERROR,
    ]),
    # at zero with the output off: compliance, switch-on, then 4 steps of 1.75 uA at 20 uA/s
    "from zero, output off": (0.0, 20 * UA, 20 * UA, 7 * UA, [
        (":SOURce:LEVel?", "+0.00000E+00"), ("OUTPut:STATe?", "0"),
        ("SOURce:PROTection:VOLTage 1", None), NO_ERROR, ("OUTPut:STATe 1", None), NO_ERROR,
        ("SOURce:LEVel 1.75e-06", None), NO_ERROR, ("SOURce:LEVel 3.5e-06", None), NO_ERROR,
        ("SOURce:LEVel 5.25e-06", None), NO_ERROR, ("SOURce:LEVel 7e-06", None), NO_ERROR,
    ]),
}


@pytest.mark.parametrize("ramp", sorted(RAMPS))
def test_the_pair_ramps_from_the_measured_bias_in_steps_of_at_most_rate_times_the_interval(ramp, clock, pacer):
    measured, rate, effective_rate, target, pairs = RAMPS[ramp]
    with pair_on_wire(pairs) as bias:
        bias.ramp_to(target, pacer, rate)
    levels = [measured, *sent_levels(pairs)]
    assert levels[-1] == pytest.approx(target)
    assert np.max(np.abs(np.diff(levels))) <= effective_rate * RAMP_STEP_INTERVAL_S * (1 + 1e-9)
    assert clock.now() == pytest.approx(abs(target - measured) / effective_rate)


def test_the_pair_reads_the_squid_voltage_as_the_2182_reading_divided_by_the_preamp_gain(clock, pacer):
    pairs = [(":SENS:VOLT:NPLC 5", None), NO_ERROR, (":READ?", "+1.234000E-01")]
    with pair_on_wire(voltmeter_pairs=pairs) as bias:
        assert bias.read_voltage(0.1, pacer) == pytest.approx(1.234e-4)
    assert clock.now() == pytest.approx(0.1)


@pytest.mark.parametrize("target, rate", [(200 * UA, None), (-151 * UA, None), (10 * UA, 30 * UA)],
                         ids=["above", "below", "too fast"])
def test_the_pair_refuses_beyond_limits_squid_bias_before_any_command(target, rate, pacer):
    with pair_on_wire() as bias:
        with pytest.raises(LimitError, match="SQUID bias .* outside the station limits"):
            bias.ramp_to(target, pacer, rate)
        assert nothing_sent_after_connecting(bias)


def test_the_pair_refuses_a_level_beyond_the_gs200_range_through_its_own_check_target(pacer):
    generous = station_limits(max_abs="5 mA", ramp_rate="100 uA/s", max_ramp_rate="1 mA/s")
    with pair_on_wire(limits=generous) as bias:
        with pytest.raises(InstrumentError, match=r"outside the GS200's range of \+-0.0012 A \(its 0.001 A range\)"):
            bias.ramp_to(2e-3, pacer)
        assert nothing_sent_after_connecting(bias)


def test_the_pair_safe_state_ramps_to_zero_from_the_measured_bias_then_switches_off(clock, pacer):
    pairs = [
        ("OUTPut:STATe?", "1"), (":SOURce:LEVel?", "+3.00000E-06"), ("OUTPut:STATe?", "1"),
        ("SOURce:LEVel 2e-06", None), NO_ERROR, ("SOURce:LEVel 1e-06", None), NO_ERROR,
        ("SOURce:LEVel 0", None), NO_ERROR,
        ("OUTPut:STATe 0", None), ("SOURce:LEVel 0", None), NO_ERROR,
    ]
    with pair_on_wire(pairs) as bias:
        bias.safe_state(pacer)
    assert clock.now() == pytest.approx(0.3)


def test_the_pair_emergency_stop_switches_the_source_off():
    with pair_on_wire([("OUTPut:STATe 0", None), ("SOURce:LEVel 0", None), NO_ERROR]) as bias:
        assert bias.emergency_stop() == "SQUID bias output switched off without a ramp"


def test_the_pair_names_both_instruments_and_snapshots_them():
    source = [(":SOURce:LEVel?", "+5.00000E-06"), ("OUTPut:STATe?", "1")] * 2 + [
        ("SOURce:PROTection:VOLTage?", "1.000E+00")]
    voltmeter = [(":SENS:VOLT:NPLC?", "+5.000000E+00"), (":SENS:VOLT:CHAN1:RANG:AUTO?", "1"),
                 (":SENS:VOLT:CHAN1:RANG?", "+1.000000E-01")]
    with pair_on_wire(source, voltmeter) as bias:
        assert bias.identity() == f"bias {IDN_GS200}; voltage {IDN_2182}, preamp gain 1000"
        snapshot = bias.snapshot()
    assert snapshot["current_A"] == 5e-6 and snapshot["output_enabled"] is True and snapshot["preamp_gain"] == 1000
    assert snapshot["source_compliance_V"] == 1.0 and snapshot["source_current_range_A"] == 1e-3
    assert snapshot["voltmeter_identity"] == IDN_2182 and snapshot["voltmeter_nplc"] == 5.0


# --------------------------------------------------------------------------- the pair from a station file


@pytest.fixture
def lab_sim_context(clock):
    context = HardwareContext(visa_library=f"{SIM_FOLDER / 'lab.yaml'}@sim", clock=clock)
    yield context
    context.close()


SIM_PAIR_BLOCK = {"driver": "squid_bias_pair", "preamp_gain": 1000,
                  "source": {"driver": "keithley6221", "address": "GPIB0::12::INSTR", "compliance": "1 V"},
                  "voltmeter": {"driver": "keithley2182", "address": "GPIB0::7::INSTR"}}


def test_the_pair_from_its_block_ramps_reads_and_goes_safe_through_pyvisa_sim(lab_sim_context, clock, pacer):
    bias = SquidBiasPair.from_config(dict(SIM_PAIR_BLOCK), lab_sim_context)
    bias.attach_limits(station_limits())
    assert "MODEL 6221" in bias.identity() and "MODEL 2182A" in bias.identity()
    bias.ramp_to(10 * UA, pacer)
    assert bias.read_current() == pytest.approx(10 * UA) and bias.output_enabled()
    assert clock.now() == pytest.approx(1.0)  # 10 uA at the station's 10 uA/s
    assert bias.read_voltage(0.2, pacer) == pytest.approx(1.234e-9)  # the simulator's 1.234 uV / 1000
    bias.safe_state(pacer)
    assert bias.read_current() == 0.0 and not bias.output_enabled()


@pytest.mark.parametrize("part, change, error, message", [
    ("source", {"compliance": "200 V"}, UserInputError, r"^source\.compliance: '200 V' is outside the plausible"),
    ("voltmeter", {"address": "GPIB0::29::INSTR"}, InstrumentError,
     r"^voltmeter: Keithley 2182A at GPIB0::29::INSTR: answers as '', not the expected model"),
])
# nothing sensible answers there: pymeasure's warning about the missing termination is expected
@pytest.mark.filterwarnings("ignore:read string doesn't end with termination characters:UserWarning")
def test_the_pair_names_the_part_that_failed_to_open(lab_sim_context, part, change, error, message):
    block = {**SIM_PAIR_BLOCK, part: {**SIM_PAIR_BLOCK[part], **change}}
    with pytest.raises(error, match=message):
        SquidBiasPair.from_config(block, lab_sim_context)


def lab_hardware(station: str = "lab-pyvisa-sim", squid_bias: dict | None = None) -> dict:
    """The hardware block of a shipped lab station, with a squid_bias block (None: without)."""
    hardware = yaml.safe_load((CONFIGS / "stations" / f"{station}.yaml").read_text())["hardware"]
    if squid_bias is not None:
        hardware["squid_bias"] = squid_bias
    return hardware


def test_a_station_may_go_without_a_squid_bias_or_give_either_driver():
    validate_config(lab_hardware(), station_limits())
    validate_config(lab_hardware(squid_bias=PAIR_BLOCK), station_limits())
    validate_config(lab_hardware("lab-example", squid_bias=DAQ_BLOCK), station_limits())


def _without(block: dict, key: str) -> dict:
    return {name: value for name, value in block.items() if name != key}


BAD_PAIR_BLOCKS = {
    "unknown key": ({**PAIR_BLOCK, "gain": 1000},
                    r"hardware\.squid_bias: unknown setting\(s\) gain \(known: source, voltmeter, preamp_gain\)"),
    "no source": (_without(PAIR_BLOCK, "source"), r"hardware\.squid_bias\.source: missing \(the driver needs it\)"),
    "no voltmeter": (_without(PAIR_BLOCK, "voltmeter"), r"hardware\.squid_bias\.voltmeter: missing"),
    "unknown source driver": ({**PAIR_BLOCK, "source": {"driver": "gs9999", "address": "GPIB0::2::INSTR"}},
                              r"hardware\.squid_bias\.source: unknown driver 'gs9999' \(known: "),
    "a voltmeter as source": ({**PAIR_BLOCK, "source": PAIR_BLOCK["voltmeter"]},
                              r"hardware\.squid_bias\.source: the driver 'keithley2182' fills the voltmeter role, "
                              "not current_source"),
    "a source that is no block": ({**PAIR_BLOCK, "voltmeter": "GPIB0::8::INSTR"},
                                  r"hardware\.squid_bias\.voltmeter: give a mapping with a 'driver'"),
    "a gain of 0": ({**PAIR_BLOCK, "preamp_gain": 0},
                    r"hardware\.squid_bias\.preamp_gain: 0 is outside the plausible preamp gain "
                    r"\|x\| in \(0, 1e\+06\]"),
    "the source's own check": ({**PAIR_BLOCK, "source": {**PAIR_BLOCK["source"], "compliance": "40 V"}},
                               r"hardware\.squid_bias\.source\.compliance: '40 V' is outside the plausible "
                               r"compliance \[1, 30\] V: the GS200's range"),
    "the voltmeter's own check": ({**PAIR_BLOCK, "voltmeter": {**PAIR_BLOCK["voltmeter"], "line_frequency": 400}},
                                  r"hardware\.squid_bias\.voltmeter\.line_frequency: 400 is outside"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAIR_BLOCKS))
def test_a_bad_pair_block_is_refused_in_one_line_naming_the_key(case):
    block, message = BAD_PAIR_BLOCKS[case]
    with pytest.raises(UserInputError, match=message) as refusal:
        validate_config(lab_hardware(squid_bias=block), station_limits())
    assert "\n" not in str(refusal.value)


def test_the_registry_names_both_adapters_for_the_squid_bias_role():
    assert _adapter_class("squid_bias_pair") is SquidBiasPair
    assert _adapter_class("nidaq_squid_bias") is NIDAQSquidBias
    assert {DRIVER_SETTINGS[name].role for name in ("squid_bias_pair", "nidaq_squid_bias")} == {"squid_bias"}


# --------------------------------------------------------------------------- the NI-DAQ adapter


@pytest.fixture
def daq() -> FakeDAQ:
    """The fake card of test_nidaq.py with the bias output ao3 (at 0 V) and the SQUID input ai1."""
    daq = FakeDAQ()
    daq.outputs["Dev1/ao3"] = 0.0
    daq.inputs["Dev1/ai1"] = lambda n: np.zeros(n)
    return daq


@pytest.fixture
def daq_context(clock):
    return HardwareContext(visa_library="", clock=clock)


def daq_bias(daq: FakeDAQ, context: HardwareContext, **changes) -> NIDAQSquidBias:
    bias = NIDAQSquidBias.from_config({**DAQ_BLOCK, **changes}, context, daqmx=daq.daqmx)
    bias.attach_limits(station_limits())
    return bias


def bias_writes(daq: FakeDAQ) -> list[float]:
    """The volts written to the bias output, one on-demand write per task, in order."""
    volts = []
    for task in daq.tasks:
        assert task.closed
        for data, auto_start in task.writes:
            assert task.physical() == ["Dev1/ao3"] and auto_start and data.shape == (1, 1)
            volts.append(float(data[0, 0]))
    return volts


def test_the_daq_bias_is_the_output_measured_on_its_internal_channel_over_the_resistance(daq, daq_context):
    daq.outputs["Dev1/ao3"] = 0.05
    bias = daq_bias(daq, daq_context)
    (readback,) = daq.tasks
    assert readback.channels == [{"kind": "ai", "physical": "Dev1/_ao3_vs_aognd", "min": -10.0, "max": 10.0}]
    assert readback.closed and bias_writes(daq) == []
    assert bias.read_current() == pytest.approx(0.05 / BIAS_RESISTANCE)
    assert bias.output_enabled()  # a bias found flowing is on: the safe state ramps it down


def test_the_daq_ramp_starts_from_the_measured_output_in_steps_of_at_most_rate_times_the_interval(
        daq, daq_context, clock, pacer):
    daq.outputs["Dev1/ao3"] = 0.05  # 5 uA, left by an earlier session
    bias = daq_bias(daq, daq_context)
    bias.ramp_to(8 * UA, pacer)  # at the station's 10 uA/s: 1 uA (10 mV) every 0.1 s
    writes = bias_writes(daq)
    assert writes == pytest.approx([0.06, 0.07, 0.08])
    amps = np.array([0.05, *writes]) / BIAS_RESISTANCE
    assert np.max(np.abs(np.diff(amps))) <= 10 * UA * RAMP_STEP_INTERVAL_S * (1 + 1e-9)
    channel = daq.tasks[1].channels[0]
    assert (channel["kind"], channel["min"], channel["max"]) == ("ao", -1.0, 1.0)  # NI-DAQmx refuses beyond too
    assert clock.now() == pytest.approx(0.3)
    assert daq.outputs["Dev1/ao3"] == pytest.approx(0.08) and bias.read_current() == pytest.approx(8 * UA)


def test_the_daq_ramp_from_zero_switches_the_bias_on_without_writing(daq, daq_context, pacer):
    bias = daq_bias(daq, daq_context)
    assert not bias.output_enabled()
    bias.ramp_to(-2 * UA, pacer)
    assert bias_writes(daq) == pytest.approx([-0.01, -0.02]) and bias.output_enabled()


def test_the_daq_voltage_is_the_mean_input_over_the_preamp_gain(daq, daq_context, clock, pacer):
    daq.inputs["Dev1/ai1"] = lambda n: np.linspace(0.2, 0.3, n)
    bias = daq_bias(daq, daq_context)
    assert bias.read_voltage(0.01, pacer) == pytest.approx(0.25 / 1000)
    task = daq.tasks[-1]
    assert task.channels == [{"kind": "ai", "physical": "Dev1/ai1", "min": -10.0, "max": 10.0}]
    assert (task.timing_config["rate"], task.timing_config["samps_per_chan"]) == (10e3, 100)
    assert task.reads[0]["n"] == 100 and task.closed
    assert clock.now() == pytest.approx(0.01)


@pytest.mark.parametrize("call", ["ramp_to", "_apply_current"])
def test_the_daq_refuses_a_level_beyond_the_output_range_before_any_write(daq, daq_context, pacer, call):
    bias = daq_bias(daq, daq_context)
    message = (r"NI-DAQ Dev1/ao3: a SQUID bias of 0.00012 A needs 1.2 V across the 10000 ohm bias resistor, "
               r"beyond the output range \+-1 V; refusing")
    with pytest.raises(InstrumentError, match=message):
        if call == "ramp_to":
            bias.ramp_to(120 * UA, pacer)  # inside limits.squid_bias (150 uA)
        else:
            bias._apply_current(120 * UA)
    assert len(daq.tasks) == 1 and bias_writes(daq) == []  # only the readback at building


def test_the_daq_refuses_beyond_limits_squid_bias_before_any_task(daq, daq_context, pacer):
    bias = daq_bias(daq, daq_context, output_range="10 V")
    with pytest.raises(LimitError, match="outside the station limits"):
        bias.ramp_to(200 * UA, pacer)
    assert len(daq.tasks) == 1


def test_the_daq_safe_state_ramps_to_zero_volts_then_counts_the_output_off(daq, daq_context, clock, pacer):
    daq.outputs["Dev1/ao3"] = -0.03
    bias = daq_bias(daq, daq_context)
    bias.safe_state(pacer)
    assert bias_writes(daq) == pytest.approx([-0.02, -0.01, 0.0])  # 0 V written once, by the ramp
    assert not bias.output_enabled() and daq.outputs["Dev1/ao3"] == 0.0
    assert clock.now() == pytest.approx(0.3)
    tasks = len(daq.tasks)
    bias.safe_state(pacer)  # already safe: nothing more
    assert len(daq.tasks) == tasks


def test_the_daq_emergency_stop_writes_zero_volts_at_once(daq, daq_context):
    daq.outputs["Dev1/ao3"] = 0.05
    bias = daq_bias(daq, daq_context)
    assert bias.emergency_stop() == "SQUID bias output switched off without a ramp"
    assert bias_writes(daq) == [0.0] and not bias.output_enabled()


def test_a_failed_daq_write_measures_the_output_again(daq, daq_context, pacer):
    bias = daq_bias(daq, daq_context)
    bias.ramp_to(1 * UA, pacer)
    daq.fail_write_after = 0  # from now on a write fails before it reaches the pin
    with pytest.raises(InstrumentError, match="NI-DAQ Dev1/ao3 SQUID bias: RuntimeError: DAQmx -200018"):
        bias.ramp_to(3 * UA, pacer)
    assert daq.tasks[-1].physical() == ["Dev1/_ao3_vs_aognd"]  # measured after the failure
    assert bias.read_current() == pytest.approx(1 * UA)  # where the last good write left it


def test_an_output_that_cannot_be_measured_refuses_the_ramp(daq, daq_context, pacer):
    bias = daq_bias(daq, daq_context)
    daq.fail_write_after = 0
    del daq.outputs["Dev1/ao3"]  # the readback fails too
    with pytest.raises(InstrumentError, match="DAQmx -200018"):
        bias.ramp_to(3 * UA, pacer)
    writes = len(bias_writes(daq))
    with pytest.raises(InstrumentError, match="NI-DAQ Dev1/ao3 readback"):
        bias.ramp_to(3 * UA, pacer)
    assert len(bias_writes(daq)) == writes


def test_the_daq_identity_and_snapshot(daq, daq_context):
    daq.outputs["Dev1/ao3"] = 0.01
    bias = daq_bias(daq, daq_context)
    assert bias.identity() == "NI-DAQ SQUID bias: Dev1/ao3 through 10000 ohm, voltage on Dev1/ai1 (preamp gain 1000)"
    snapshot = bias.snapshot()
    assert snapshot["current_A"] == pytest.approx(1 * UA) and snapshot["output_volts_V"] == 0.01
    assert (snapshot["bias_resistance_ohm"], snapshot["output_range_V"], snapshot["preamp_gain"]) == (1e4, 1.0, 1000)


BAD_DAQ_BLOCKS = {
    "unknown key": ({"resistor": "10 kohm"}, r"hardware\.squid_bias: unknown setting\(s\) resistor"),
    "no resistance": ({"bias_resistance": None}, r"hardware\.squid_bias\.bias_resistance: missing"),
    "zero resistance": ({"bias_resistance": "0 ohm"},
                        r"hardware\.squid_bias\.bias_resistance: '0 ohm' is outside the plausible bias resistance"),
    "a gain of 0": ({"preamp_gain": 0}, r"hardware\.squid_bias\.preamp_gain: 0 is outside the plausible preamp gain"),
    "beyond the card": ({"output_range": "20 V"}, r"hardware\.squid_bias\.output_range: '20 V' is outside"),
    "an input as output": ({"output": "ai1"}, r"hardware\.squid_bias\.output: expected an AO channel such as 'ao0'"),
    "another card": ({"input": "Dev2/ai1"}, r"hardware\.squid_bias\.input: not on device 'Dev1'"),
    "the scanner's z": ({"output": "Dev1/ao2"}, r"hardware\.squid_bias\.output: Dev1/ao2 is already "
                                               r"hardware\.scanner\.axes\.z\.channel; one channel cannot serve two"),
    "the FLL's input": ({"input": "ai0"}, r"hardware\.squid_bias\.input: Dev1/ai0 is already hardware\.squid\.channel"),
}


@pytest.mark.parametrize("case", sorted(BAD_DAQ_BLOCKS))
def test_a_bad_daq_block_is_refused_in_one_line_naming_the_key(case):
    change, message = BAD_DAQ_BLOCKS[case]
    block = {key: value for key, value in {**DAQ_BLOCK, **change}.items() if value is not None}
    with pytest.raises(UserInputError, match=message) as refusal:
        validate_config(lab_hardware("lab-example", squid_bias=block), station_limits())
    assert "\n" not in str(refusal.value)


@pytest.mark.parametrize("change, message", [
    ({"output": "ai1"}, "output: expected an AO channel"), ({"bias_resistance": 0}, "bias_resistance must be positive"),
    ({"preamp_gain": 0}, "preamp_gain must be a finite, non-zero number"), ({"output_range": "11 V"}, "output_range"),
])
def test_a_bad_daq_block_is_refused_by_the_adapter_before_the_card_is_touched(daq, daq_context, change, message):
    with pytest.raises(UserInputError, match=message):
        daq_bias(daq, daq_context, **change)
    assert daq.tasks == []


def test_the_example_station_s_commented_squid_bias_blocks_are_valid():
    """configs/stations/lab-example.yaml gives both blocks commented out: uncommented, each passes."""
    text = LAB_EXAMPLE.read_text()
    limits = yaml.safe_load(text)["limits"]
    limits.update(yaml.safe_load(re.search(r"^  # (squid_bias: \{.*\})$", text, re.MULTILINE).group(1)))
    daq_text, _, pair_text = text[text.rindex("  # squid_bias:"):].partition("  # or ")  # hardware's, not limits
    drivers = set()
    for commented in (daq_text, pair_text):
        block = yaml.safe_load("\n".join(line.replace("  #   ", "", 1) for line in commented.splitlines()[1:]))
        validate_config(lab_hardware("lab-example", squid_bias=block), StationLimits.from_mapping(limits))
        drivers.add(block["driver"])
    assert drivers == {"nidaq_squid_bias", "squid_bias_pair"}


# --------------------------------------------------------------------------- squid_iv on a hardware station


SQUID_CRITICAL_CURRENT, SQUID_RESISTANCE, PREAMP_GAIN = 20 * UA, 5.0, 1000.0


def resistive_squid(daq: FakeDAQ):
    """The AI samples of a SQUID biased by ao3 through 10 kohm: superconducting below its
    critical current, an overdamped junction's V = R sqrt(I^2 - Ic^2) above, times the preamp gain."""
    def samples(n: int) -> np.ndarray:
        amps = daq.outputs["Dev1/ao3"] / BIAS_RESISTANCE
        volts = SQUID_RESISTANCE * np.sign(amps) * np.sqrt(max(amps**2 - SQUID_CRITICAL_CURRENT**2, 0.0))
        return np.full(n, PREAMP_GAIN * volts)
    return samples


def daq_squid_station(tmp_path: Path, monkeypatch, daq: FakeDAQ) -> Station:
    """lab-pyvisa-sim.yaml (pyvisa-sim instruments) with the SQUID bias on the fake card,
    which is what `import nidaqmx` finds."""
    module = daq.module()
    monkeypatch.setitem(sys.modules, "nidaqmx", module)
    monkeypatch.setitem(sys.modules, "nidaqmx.constants", module.constants)
    data = yaml.safe_load(LAB_SIM.read_text())
    data["limits"]["squid_bias"] = SQUID_BIAS_LIMITS
    data["hardware"]["squid_bias"] = DAQ_BLOCK
    data["hardware"]["visa_library"] = f"{SIM_FOLDER / 'lab.yaml'}@sim"
    station_file = tmp_path / "station.yaml"
    station_file.write_text(yaml.safe_dump(data))
    return Station.from_file(station_file)


def test_squid_iv_runs_to_the_end_on_a_hardware_station_with_the_daq_squid_bias(tmp_path, monkeypatch, daq):
    daq.inputs["Dev1/ai1"] = resistive_squid(daq)
    procedure = tmp_path / "iv.yaml"
    procedure.write_text("steps:\n  - squid_iv: {points: [0, 30 uA, -30 uA, 0], step: 2 uA}\n")
    station = daq_squid_station(tmp_path, monkeypatch, daq)
    try:
        result = run_procedure(procedure, station, tmp_path / "runs")
        assert result.outcome.status == "completed", result.outcome.error
        bias = station.role(SquidBias)
        assert isinstance(bias, NIDAQSquidBias)
        assert daq.outputs["Dev1/ao3"] == 0.0 and not bias.output_enabled()  # the run's safe state
    finally:
        station.close()

    with h5py.File(result.path, "r") as h5:
        assert h5.attrs["status"] == "completed" and h5.attrs["safe_state"] == "safe"
        (step,) = [h5[name] for name in h5 if name.endswith("_squid_iv")]
        assert "NI-DAQ SQUID bias" in step["snapshot/squid_bias"].attrs["identity"]
        biases, volts = step["data/squid_bias"][:], step["data/voltage"][:]
        notes = dict(step.attrs)
    assert biases.max() == pytest.approx(30 * UA) and biases.min() == pytest.approx(-30 * UA)
    expected = SQUID_RESISTANCE * np.sign(biases) * np.sqrt(np.clip(biases**2 - SQUID_CRITICAL_CURRENT**2, 0, None))
    assert volts == pytest.approx(expected, abs=1e-12)  # the AI over the gain, at the bias read back
    for key in ("critical_current_plus_A", "critical_current_minus_A"):
        assert notes[key] == pytest.approx(SQUID_CRITICAL_CURRENT, abs=2 * UA)
    # every bias the card was given is one small step from the one before: the wire never jumped
    writes = [0.0, *bias_writes(daq)]
    assert np.max(np.abs(np.diff(writes))) / BIAS_RESISTANCE <= 10 * UA * RAMP_STEP_INTERVAL_S * (1 + 1e-9)


def test_the_pattern_and_the_working_point_through_the_hardware_drivers(tmp_path, monkeypatch, daq):
    """squid_interference and working_point on a hardware station: the bias on the DAQ
    (ao3 through 10 kohm), the field through the AMI 430 adapter (pyvisa-sim: a ramp arrives
    at once), the SQUID's voltage on ai1 that of the twin's sensor model at that bias and field."""
    from sqm.sims.nano_squid import PHI0, NanoSquidSettings, rounded_transfer, rounded_voltage

    settings = NanoSquidSettings()
    area = settings.sensor.effective_area
    procedure = tmp_path / "squid.yaml"
    procedure.write_text(
        "steps:\n"
        "  - squid_interference: {fields: [-20 G, 20 G], field_step: 0.5 G, mode: voltage, bias: 95 uA}\n"
        "  - working_point: {fields: [-10 G, 10 G], biases: [50 uA, 95 uA], field_step: 1 G, "
        "field_period: 17.23 G, bias_step: 4 uA}\n")
    station = daq_squid_station(tmp_path, monkeypatch, daq)

    def squid_volts(n: int) -> np.ndarray:
        amps = daq.outputs["Dev1/ao3"] / BIAS_RESISTANCE
        flux = station.magnet.read_field() * area / PHI0
        return np.full(n, PREAMP_GAIN * float(rounded_voltage(settings, amps, flux)))

    daq.inputs["Dev1/ai1"] = squid_volts
    try:
        result = run_procedure(procedure, station, tmp_path / "runs")
        assert result.outcome.status == "completed", result.outcome.error
    finally:
        station.close()
    with h5py.File(result.path, "r") as h5:
        pattern = dict(h5["001_squid_interference"].attrs)
        point = dict(h5["002_working_point"].attrs)
    assert pattern["period_T"] == pytest.approx(PHI0 / area, rel=0.01)
    fields, biases = np.linspace(-1e-3, 1e-3, 801), np.linspace(50e-6, 95e-6, 451)
    best = np.abs(rounded_transfer(settings, biases[:, None], (fields * area / PHI0)[None, :])).max()
    assert abs(point["working_point_transfer_V_per_Phi0"]) == pytest.approx(best, rel=0.05)
