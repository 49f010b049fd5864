"""Fault injection, seeded, each try recorded in the fault matrix (see conftest.py):
stop signals and SIGKILL mid-run, a full disk, instrument faults in a step and in the
safe state, fuzzed station files and corrupted run files."""

from __future__ import annotations

import math
import os
import random
import re
import signal
import subprocess
import sys
import time

import h5py
import pytest

from sqm.cli import main
from sqm.errors import InstrumentError
from sqm.station import DEFAULT_STATION, Station

from ..cli.test_cli import _spawn_run, _StderrWatch, _wait_until_sweeping
from ..conftest import REPO, run_on_station, twin_station_text
from ..core.test_disk_full import LONG_SWEEP, needs_unshare, run_on_small_disk
from .conftest import record

SEED = 20261202


def station_is_safe(station: Station) -> bool:
    world = station.squid.world
    return (not world.bias_output and world.field == 0.0
            and station.scanner.position()[2] == station.limits.scanner_z.maximum)


# Stop signals and kills ---------------------------------------------------------------
@pytest.mark.parametrize("stop, repeats", [("SIGINT", 1), ("SIGTERM", 2), ("SIGHUP", 3)])
def test_stop_signals_mid_sweep(tmp_path, stop, repeats):
    child = _spawn_run(tmp_path, pace=20.0)
    with _StderrWatch(child) as stderr:
        _wait_until_sweeping(child, tmp_path)
        time.sleep(random.Random(f"{SEED}{stop}").uniform(0.0, 1.0))
        for _ in range(repeats):
            child.send_signal(getattr(signal, stop))
            time.sleep(0.002)
        child.wait(timeout=120)
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r") as h5:
        status, safe = h5.attrs["status"], h5.attrs["safe_state"]
    held = child.returncode == 3 and status == "aborted" and "Traceback" not in stderr.text
    record(f"{stop} x{repeats} mid-sweep (no terminal)", held, safe == "safe")
    assert held and safe == "safe", stderr.text


@pytest.mark.parametrize("attempt", range(3))
def test_sigkill_mid_sweep_loses_at_most_the_flush_interval(tmp_path, attempt):
    child = _spawn_run(tmp_path, pace=100.0)
    _wait_until_sweeping(child, tmp_path)
    time.sleep(random.Random(SEED + attempt).uniform(0.0, 1.5))
    killed_at = time.time()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r", swmr=True) as h5:
        data = h5["002_bias_sweep/data"]
        lengths = {len(data[name]) for name in data}
        last_flush = h5.attrs["heartbeat"].decode()
    from datetime import datetime

    lost = killed_at - datetime.fromisoformat(last_flush).timestamp()
    held = len(lengths) == 1 and lengths.pop() > 0
    # the heartbeat is refreshed at most once a second: an upper bound of what was lost
    record("SIGKILL mid-sweep", held, None, loss=lost, unit="s since the last heartbeat")
    assert held and lost < 2.0


@needs_unshare
@pytest.mark.parametrize("size", ["250k", "600k"])
def test_a_full_disk_mid_run(tmp_path, size):
    result = run_on_small_disk(tmp_path, size, LONG_SWEEP)
    files = list((tmp_path / "out").glob("*.h5"))
    statuses = []
    for path in files:
        with h5py.File(path, "r") as h5:
            statuses.append((h5.attrs["status"], h5.attrs.get("safe_state")))
    held = result.returncode in (1, 2) and "Traceback" not in result.stderr and all(
        status == "failed" for status, _ in statuses)
    unwritten = re.search(r"(\d+) buffered points not written", result.stderr)
    record("disk full mid-run (tmpfs)", held, all(safe == "safe" for _, safe in statuses),
           loss=float(unwritten.group(1)) if unwritten else 0.0, unit="points never flushed")
    assert held, result.stderr


@needs_unshare
def test_a_disk_too_full_to_create_the_file(tmp_path):
    result = run_on_small_disk(tmp_path, "300k", LONG_SWEEP, fill_kib=290)
    one_line = len(result.stderr.strip().splitlines()) == 1
    held = result.returncode in (1, 2) and one_line and not list((tmp_path / "out").glob("*.h5"))
    record("disk full at creation", held, None)
    assert held, result.stderr


# Instrument faults on the twin --------------------------------------------------------
FAULTY = [("current_source", "read_current"), ("magnet", "read_field"), ("scanner", "_move_z"), ("squid", "_read")]
PROCEDURE = """
steps:
  - set: {field: 2 G}
  - park: {x: 30 um, y: -15 um, height: 1 um}
  - bias_sweep: {points: [0, 40 uA, 0], step: 2 uA, integration_time: 0.1 s}
"""


def inject(role, method: str, rng: random.Random) -> str:
    """Make `role.method` time out 1-3 times from a seeded call on, or read NaN for ever."""
    original, calls = getattr(role, method), {"n": 0}
    first, count, forever_nan = rng.randint(1, 40), rng.randint(1, 3), rng.random() < 0.25 and method.startswith("read")

    def faulty(*args, **kwargs):
        calls["n"] += 1
        if forever_nan and calls["n"] >= first:
            return math.nan
        if first <= calls["n"] < first + count:
            raise InstrumentError(f"{method}: no answer within 5 s")
        return original(*args, **kwargs)

    setattr(role, method, faulty)
    return "NaN for ever" if forever_nan else f"{count} timeout(s)"


@pytest.mark.parametrize("attempt", range(12))
def test_instrument_faults_in_a_step_or_its_safe_state(tmp_path, attempt):
    rng = random.Random(SEED * 100 + attempt)
    station = Station.from_text(twin_station_text())
    role_name, method = FAULTY[attempt % len(FAULTY)]
    kind = inject(getattr(station, role_name), method, rng)
    path, outcome = run_on_station(station, PROCEDURE, tmp_path)
    with h5py.File(path, "r") as h5:
        status, safe_state = h5.attrs["status"], h5.attrs["safe_state"]
    said = safe_state == "safe" or f"{role_name}: NOT confirmed safe" in safe_state
    held = status in ("completed", "failed") and said
    safe = station_is_safe(station) if kind != "NaN for ever" else safe_state != "safe" or station_is_safe(station)
    record("instrument read NaN for ever" if kind == "NaN for ever" else "instrument timeouts, 1-3 in a row",
           held, safe)
    assert held and safe, (role_name, method, kind, status, safe_state)


# Fuzzed station files -----------------------------------------------------------------
BAD_VALUES = ["10 Hz", ".nan", ".inf", "1e300", "-5", "abc", "[1, 2]", "true", "{}", "'3 K'", "null"]


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    candidates = [i for i, line in enumerate(lines) if ":" in line and not line.strip().startswith("#")
                  and line.split(":", 1)[1].strip()]
    index = rng.choice(candidates)
    key, _ = lines[index].split(":", 1)
    lines[index] = f"{key}: {rng.choice(BAD_VALUES)}"
    return "\n".join(lines) + "\n"


def test_fuzzed_station_files_check_and_run_agree(tmp_path, capsys):
    rng = random.Random(SEED)
    original = DEFAULT_STATION.read_text()
    procedure = tmp_path / "p.yaml"
    procedure.write_text("steps:\n  - set: {bias_current: 0}\n")
    disagreements = []
    for variant in range(60):
        station = tmp_path / f"s{variant}.yaml"
        station.write_text(mutate(original, rng))
        check = main(["check", str(procedure), "--station", str(station)])
        check_err = capsys.readouterr().err
        run = main(["run", str(procedure), "--station", str(station), "--out", str(tmp_path / "out")])
        run_err = capsys.readouterr().err
        one_line = all(len(err.strip().splitlines()) == 1 for code, err in ((check, check_err), (run, run_err))
                       if code == 2)
        held = (check == 2) == (run == 2) and one_line and "Traceback" not in check_err + run_err
        record("fuzzed station file (check vs run)", held, None)
        if not held:
            disagreements.append((station.read_text(), check, run, check_err, run_err))
    assert not disagreements, disagreements[0]


# Corrupted run files ------------------------------------------------------------------
def test_corrupted_run_files_never_hang_sqm_show(tmp_path):
    from sqm.session import run_procedure

    good = run_procedure("steps:\n  - bias_sweep: {points: [0, 20 uA], step: 1 uA, integration_time: 0.1 s}\n",
                         out_dir=tmp_path).path
    content = good.read_bytes()
    rng = random.Random(SEED)
    failures = []
    for attempt in range(6):
        damaged = bytearray(content)
        how = ["truncate", "zero page", "flip bytes"][attempt % 3]
        offset = rng.randrange(0, len(content) - 4096)
        if how == "truncate":
            damaged = damaged[:offset]
        elif how == "zero page":
            damaged[offset:offset + 4096] = bytes(4096)
        else:
            for position in rng.sample(range(len(content)), 32):
                damaged[position] ^= 0xFF
        path = tmp_path / f"damaged{attempt}.h5"
        path.write_bytes(bytes(damaged))
        try:
            shown = subprocess.run([sys.executable, "-m", "sqm.cli", "show", str(path)], cwd=REPO,
                                   capture_output=True, text=True, timeout=60)
            held = shown.returncode in (0, 1, 2) and "Traceback" not in shown.stderr
        except subprocess.TimeoutExpired:
            held = False
        record(f"corrupted run file ({how})", held, None)
        if not held:
            failures.append((how, offset))
    assert not failures, failures
