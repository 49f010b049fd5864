"""The run's warnings and errors are kept in its file; -v and -vv show the loggers."""

from __future__ import annotations

import logging

import h5py

from sqm.cli import main
from sqm.errors import InstrumentError
from sqm.run_log import RunFileLog, configure_console
from sqm.session import run_procedure
from sqm.store import RunStore

FAILING_SWEEP = """\
description: a short bias sweep on the twin
steps:
  - bias_sweep: {points: [0, 4 uA], step: 2 uA, settle: 0, integration_time: 0.1 s}
"""


def _log_lines(path) -> list[str]:
    with h5py.File(path, "r") as h5:
        return [line.decode() for line in h5["log"][()]] if "log" in h5 else []


def test_a_failed_step_and_its_safe_state_retries_are_in_the_run_file(tmp_path, monkeypatch):
    procedure = tmp_path / "sweep.yaml"
    procedure.write_text(FAILING_SWEEP)
    from sqm.sims.instruments import SimSquidReadout

    def broken_read(self, integration_time, pacer):
        raise InstrumentError("readout stopped answering")

    monkeypatch.setattr(SimSquidReadout, "read_flux", broken_read)
    result = run_procedure(procedure, out_dir=tmp_path)
    assert result.outcome.status == "failed"
    lines = _log_lines(result.path)
    assert any("WARNING sqm.runner: step 1: bias_sweep failed: InstrumentError: readout stopped answering" in line
               for line in lines), lines
    assert lines[-1].split(" ", 1)[1].startswith("WARNING sqm.runner: run failed")
    assert all(line[:4].isdigit() and "T" in line.split(" ")[0] for line in lines)  # UTC time stamp first


def test_a_completed_run_without_warnings_has_no_log(tmp_path):
    procedure = tmp_path / "sweep.yaml"
    procedure.write_text(FAILING_SWEEP)
    result = run_procedure(procedure, out_dir=tmp_path)
    assert result.outcome.status == "completed"
    assert _log_lines(result.path) == []


def test_only_the_run_threads_records_reach_its_file(tmp_path):
    store = RunStore(tmp_path / "run.h5", backend="sim", station_text="", procedure_text="")
    logger = logging.getLogger("sqm.test")
    with RunFileLog(store, thread_ident=-1):  # not this thread
        logger.warning("from another thread's point of view")
    with RunFileLog(store):
        logger.info("not a warning")
        logger.warning("kept: %d", 42)
    store.close()
    lines = _log_lines(tmp_path / "run.h5")
    assert len(lines) == 1 and lines[0].endswith("WARNING sqm.test: kept: 42")


def test_verbosity_sets_the_sqm_loggers_level(capsys):
    try:
        configure_console(2)
        logging.getLogger("sqm.drivers.x").debug("-> *IDN?")
        assert "DEBUG   sqm.drivers.x: -> *IDN?" in capsys.readouterr().err
        configure_console(1)
        logging.getLogger("sqm.drivers.x").debug("hidden")
        logging.getLogger("sqm.runner").info("step 1 started")
        err = capsys.readouterr().err
        assert "hidden" not in err and "INFO    sqm.runner: step 1 started" in err
    finally:
        logger = logging.getLogger("sqm")
        logger.setLevel(logging.NOTSET)
        for handler in [h for h in logger.handlers if getattr(h, "sqm_console", False)]:
            logger.removeHandler(handler)


def test_sqm_run_dash_v_shows_the_runners_decisions(tmp_path, capsys):
    procedure = tmp_path / "sweep.yaml"
    procedure.write_text(FAILING_SWEEP)
    try:
        assert main(["run", str(procedure), "--out", str(tmp_path), "-v"]) == 0
    finally:
        logger = logging.getLogger("sqm")
        logger.setLevel(logging.NOTSET)
        for handler in [h for h in logger.handlers if getattr(h, "sqm_console", False)]:
            logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "INFO    sqm.runner: step 1: bias_sweep started" in err
    assert "INFO    sqm.runner: run completed; station safe" in err
