"""Stop signals as job runners, `timeout` and systemd send them: repeated signals never
skip the safe state (only a second Ctrl-C typed at a terminal does), and a signal while
the station is still being built leaves no file marked 'running'."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import h5py
import pytest

from ..conftest import REPO, twin_station_text
from .test_cli import SLOW_SWEEP, _spawn_run, _StderrWatch, _wait_until_sweeping, _write


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_repeated_stop_signal_without_a_terminal_still_ends_aborted_and_safe(tmp_path, stop):
    # `kill -TERM $P; sleep 0.002; kill -TERM $P`: the process, then its group, 2 ms apart
    child = _spawn_run(tmp_path, pace=5.0)
    with _StderrWatch(child) as stderr:
        _wait_until_sweeping(child, tmp_path)
        child.send_signal(getattr(signal, stop))
        time.sleep(0.002)
        child.send_signal(getattr(signal, stop))
        assert stderr.wait_for("aborting", 10), stderr.text
        child.send_signal(getattr(signal, stop))  # and once more while the safe state runs
        child.wait(timeout=120)
    err = stderr.text
    assert child.returncode == 3, err
    assert "quitting now" not in err and "NOT be safe" not in err and "Traceback" not in err
    assert "still making the station safe" in err
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"


def test_a_stop_signal_while_the_station_is_built_leaves_no_running_file(tmp_path):
    station = _write(tmp_path / "twin.yaml", twin_station_text(pace=100.0))
    procedure = _write(tmp_path / "sweep.yaml", SLOW_SWEEP)
    outcomes = []
    for attempt, delay in enumerate(random.Random(7).uniform(0.2, 2.5) for _ in range(4)):
        out = tmp_path / f"out{attempt}"
        child = subprocess.Popen([sys.executable, "-m", "sqm.cli", "run", str(procedure), "--station", str(station),
                                  "--out", str(out)], cwd=REPO, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
        assert "Traceback" not in err
        files = list(out.glob("*.h5"))
        for path in files:  # a file, if the run had started, says how it ended
            with h5py.File(path, "r") as h5:
                assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe", err
        if child.returncode == -signal.SIGTERM:  # before Python could install its handler: nothing made
            assert not files
        else:
            assert child.returncode == 3, err
        outcomes.append((round(delay, 2), child.returncode, len(files)))
    assert any(code == 3 for _, code, _ in outcomes), outcomes  # the handler was in place for some


def test_sigterm_to_a_script_using_run_procedure_ends_the_run_aborted_and_safe(tmp_path):
    station = _write(tmp_path / "twin.yaml", twin_station_text(pace=100.0))
    procedure = _write(tmp_path / "sweep.yaml", SLOW_SWEEP)
    script = _write(tmp_path / "script.py", (
        "import sys\n"
        "from sqm.session import run_procedure\n"
        f"run_procedure({str(procedure)!r}, {str(station)!r}, out_dir={str(tmp_path / 'out')!r})\n"
        "print('after the run: the script went on', file=sys.stderr)\n"
    ))
    child = subprocess.Popen([sys.executable, str(script)], cwd=REPO, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until_sweeping(child, tmp_path)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 128 + signal.SIGTERM, err  # the script ends as SIGTERM says ...
    assert "the script went on" not in err and "Traceback" not in err
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r") as h5:  # ... after the safe state
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
        assert "SIGTERM" in h5.attrs["error"]
