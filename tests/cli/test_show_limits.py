"""`sqm show` within limits: damaged files (HDF5 can loop or crash on corrupt metadata)
are shown within a time bound, one line per unreadable object; a run whose writer died
says so; paths that are no run file (a folder, missing, text, empty, cut short, not
readable) are one line and exit status 2. Run as `python -m sqm.cli`, as an operator would."""

from __future__ import annotations

import builtins
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from sqm import show
from sqm.cli import main
from sqm.readback import writer_state
from sqm.session import run_procedure

from ..conftest import REPO

PAGE_BYTES = 4096
SHOW_BOUND_S = 30  # the whole `sqm show` of one damaged file
SWEEP = "steps:\n  - bias_sweep: {points: [0, 20 uA], step: 1 uA, integration_time: 0.1 s}\n"
HANGING_PAGE = 4096  # this page holds the root's attributes: HDF5 loops on it when zeroed
HEARTBEAT = "2026-12-02T18:40:01.123+00:00"


def _sqm_show(path: Path, timeout: float = 2 * SHOW_BOUND_S) -> tuple[int, str, str, float]:
    """`python -m sqm.cli show PATH`: (exit status, stdout, stderr, wall seconds)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sqm.cli", "show", str(path)], capture_output=True, text=True, env=env, timeout=timeout
    )
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - started


@pytest.fixture(scope="module")
def healthy_run(tmp_path_factory) -> Path:
    """A small real run file: one bias sweep of 21 points."""
    result = run_procedure(SWEEP, out_dir=tmp_path_factory.mktemp("healthy"))
    assert result.outcome.status == "completed"
    return result.path


def _object_headers(path: Path) -> list[int]:
    """The file addresses (B) of the root's and every object's header: metadata."""
    with h5py.File(path, "r") as h5:
        addresses = [h5py.h5o.get_info(h5.id).addr]
        h5.visititems(lambda name, item: addresses.append(h5py.h5o.get_info(item.id).addr))
    return addresses


def _seeded_offsets(path: Path, count: int, seed: int = 20261202) -> list[int]:
    """`count` start offsets (B) of 4 kB pages that cover an object header, after the superblock."""
    generator = random.Random(seed)
    headers = generator.sample(_object_headers(path), count)
    return [max(512, header - generator.randrange(PAGE_BYTES // 2)) for header in headers]


def _with_zeroed_page(source: Path, offset: int, target: Path) -> Path:
    data = bytearray(source.read_bytes())
    end = min(offset + PAGE_BYTES, len(data))
    data[offset:end] = bytes(end - offset)
    target.write_bytes(data)
    return target


def test_a_healthy_file_is_shown_whole_with_status_0(healthy_run):
    status, out, err, _ = _sqm_show(healthy_run)
    assert status == 0 and err == ""
    assert "  status: completed" in out and "001_bias_sweep  [completed]" in out
    assert "data/flux: (21,) [Phi0] (signal)" in out


@pytest.mark.parametrize("offset_index", range(5))
def test_a_zeroed_page_is_shown_within_the_bound_one_line_per_unreadable_object(healthy_run, tmp_path, offset_index):
    offsets = [HANGING_PAGE] + _seeded_offsets(healthy_run, 4)
    damaged = _with_zeroed_page(healthy_run, offsets[offset_index], tmp_path / "damaged.h5")
    status, out, err, seconds = _sqm_show(damaged)
    assert seconds < SHOW_BOUND_S
    assert "Traceback" not in out + err and "errno" not in err
    if status == 2:  # the superblock or root group itself is gone: no run file to show
        assert len(err.strip().splitlines()) == 1 and str(damaged) in err
        return
    assert status in (0, 1), err
    unreadable = [line for line in out.splitlines() if "unreadable" in line or "cannot read" in line]
    if status == 1:
        assert unreadable and len(err.strip().splitlines()) == 1 and "damaged" in err
    for line in unreadable:  # each says what, and why, on its one line
        assert line.split()[0] and ("the file is damaged" in line or "cannot read" in line)


def test_the_page_holding_the_root_attributes_no_longer_hangs(healthy_run, tmp_path):
    damaged = _with_zeroed_page(healthy_run, HANGING_PAGE, tmp_path / "hang.h5")
    status, out, err, seconds = _sqm_show(damaged)
    assert seconds < SHOW_BOUND_S
    assert status == 1
    assert "  attributes  (unreadable: no answer within 5 s; the file is damaged here)" in out
    assert "attributes" in err and str(damaged) in err


CRASHING_WORKER = """
import os, signal, sys
from sqm import show_worker

describe_real = show_worker.describe_item
crash_on = sys.argv[2]

def describe_or_crash(h5, name, account):
    if name == crash_on:  # the test's stand-in for a corrupt spot HDF5 segfaults on
        os.kill(os.getpid(), signal.SIGSEGV)
    describe_real(h5, name, account)

show_worker.describe_item = describe_or_crash
sys.exit(show_worker.main(sys.argv[1:2]))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGSEGV") or os.name != "posix", reason="POSIX signals")
def test_an_object_that_crashes_the_reader_is_one_line_and_the_rest_is_shown(healthy_run, tmp_path, monkeypatch):
    """HDF5 can segfault on a corrupt file: the child dies, a new one reads on."""
    path = tmp_path / "three.h5"
    path.write_bytes(healthy_run.read_bytes())
    with h5py.File(path, "a") as h5:
        h5.copy("001_bias_sweep", "002_bias_sweep")
        h5.copy("001_bias_sweep", "003_bias_sweep")
    script = tmp_path / "crashing_worker.py"
    script.write_text(CRASHING_WORKER)
    # every child crashes on that step; the one started after the crash is not asked for it again
    monkeypatch.setattr(show, "worker_command", lambda file: [sys.executable, str(script), str(file), "002_bias_sweep"])
    shown = show.account(path)
    assert shown.unreadable == ["002_bias_sweep"]
    lines = shown.text.splitlines()
    assert "001_bias_sweep  [completed]" in lines and "003_bias_sweep  [completed]" in lines
    assert "002_bias_sweep  (unreadable: the reader crashed (SIGSEGV); the file is damaged here)" in lines
    assert lines.count("  data/flux: (21,) [Phi0] (signal)") == 2


# --------------------------------------------------------------------------- the writer


def _running_file(path: Path, **writer) -> Path:
    with h5py.File(path, "w") as h5:
        h5.attrs["sqm_version"] = "0.1.0"
        h5.attrs["status"] = "running"
        for key, value in writer.items():
            h5.attrs[key] = value
        step = h5.create_group("001_set")
        step.attrs["procedure"] = "set"
        step.attrs["status"] = "running"
    return path


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_dead_writer_is_reported_on_the_status_line(tmp_path):
    pid = _exited_pid()
    host = socket.gethostname()
    path = _running_file(tmp_path / "dead.h5", writer_host=host, writer_pid=pid, heartbeat=HEARTBEAT)
    status, out, err, _ = _sqm_show(path)
    assert status == 0, err
    (status_line,) = [line for line in out.splitlines() if line.startswith("  status:")]
    assert status_line == (
        f"  status: running (the writer (pid {pid} on {host}) is gone: the run ended without closing the file; "
        f"data up to the last heartbeat ({HEARTBEAT}) is in the file)"
    )


def test_a_run_store_whose_program_died_is_reported_gone(tmp_path):
    """The store's own writer attributes: a program killed after a flush, file never closed."""
    path = tmp_path / "killed.h5"
    code = (
        "import os\n"
        "from sqm.store import RunStore\n"
        f"store = RunStore({str(path)!r}, backend='sim', station_text='', procedure_text='')\n"
        "store.begin_step(1, 'set', {}, {})\n"
        "store.flush()\n"
        "os._exit(9)  # killed: no close, status stays running\n"
    )
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    with h5py.File(path, "r", swmr=True) as h5:
        if "writer_pid" not in h5.attrs:
            pytest.skip("this store does not record its writer yet")
    status, out, err, _ = _sqm_show(path)
    assert status == 0, err
    assert "  status: running (the writer (pid " in out and "is gone: the run ended without closing the file" in out


def test_a_live_writer_adds_nothing(tmp_path):
    path = _running_file(
        tmp_path / "live.h5", writer_host=socket.gethostname(), writer_pid=os.getpid(), heartbeat=HEARTBEAT
    )
    status, out, err, _ = _sqm_show(path)
    assert status == 0 and "  status: running\n" in out


def test_a_writer_on_another_host_gives_the_heartbeat_age():
    attrs = {"status": "running", "writer_host": "lab-pc-2", "writer_pid": 4242, "heartbeat": HEARTBEAT.encode()}
    assert writer_state(attrs, now="2026-12-02T18:41:01.623+00:00") == "written on lab-pc-2, last heartbeat 60 s ago"


@pytest.mark.parametrize(
    "attrs",
    [
        {"status": "running"},  # an older file: its writer is not recorded
        {"status": "completed", "writer_host": "x", "writer_pid": 1, "heartbeat": HEARTBEAT},
        {"status": "running", "writer_host": "x", "writer_pid": "not a pid", "heartbeat": "?"},
    ],
    ids=["older file", "finished run", "junk pid"],
)
def test_nothing_is_said_without_a_running_recorded_writer(attrs):
    assert writer_state(attrs) is None


# --------------------------------------------------------------------------- not run files


def _one_line_exit_2(path: Path, *expected: str) -> None:
    status, out, err, _ = _sqm_show(path)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"sqm: error: {path}: "), err
    for text in expected:
        assert text in err
    assert "errno" not in err and "buf =" not in err and "Traceback" not in err


def test_a_folder_is_one_line_with_what_to_type(tmp_path):
    (tmp_path / "run.h5").write_bytes(b"x")
    status, out, err, _ = _sqm_show(tmp_path)
    assert status == 2 and out == ""
    assert err == f"sqm: error: {tmp_path} is a folder; sqm show takes one run file (.h5); in it, newest first: " \
                  f"{tmp_path / 'run.h5'}\n"


def test_a_missing_file_is_one_line(tmp_path):
    _one_line_exit_2(tmp_path / "nothing.h5", "no such file")


def test_a_text_file_is_one_line(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not hdf5\n")
    _one_line_exit_2(path, "not a readable HDF5 file")


def test_an_empty_file_is_one_line(tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    _one_line_exit_2(path, "empty file")


def test_a_truncated_file_is_one_line(healthy_run, tmp_path):
    path = tmp_path / "cut.h5"
    path.write_bytes(healthy_run.read_bytes()[:1000])
    _one_line_exit_2(path, "not a readable HDF5 file")


def test_a_device_is_one_line():
    _one_line_exit_2(Path(os.devnull), "not a regular file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_read_permission_is_one_line(healthy_run, tmp_path):
    path = tmp_path / "private.h5"
    path.write_bytes(healthy_run.read_bytes())
    path.chmod(0)
    _one_line_exit_2(path, "permission denied")


def test_a_file_without_read_permission_is_one_line_even_for_root(healthy_run, tmp_path, monkeypatch, capsys):
    """Root reads any file, so the refusal is staged: opening this one path raises as for a user."""
    path = tmp_path / "private.h5"
    path.write_bytes(healthy_run.read_bytes())
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    status = main(["show", str(path)])
    err = capsys.readouterr().err
    assert status == 2 and err == f"sqm: error: {path}: permission denied (this user may not read it)\n"
