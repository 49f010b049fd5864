"""The run store keeps data: points flushed in time even between appends, run files never
overwritten, columns aligned after a failed write, a full disk reported as StoreError with
the file still closable, and steps read back in their order past step 999."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest

import sqm.session
import sqm.store
from sqm.errors import UserInputError
from sqm.readback import read_steps
from sqm.session import new_run_path
from sqm.store import RunStore

from ..conftest import REPO


def _store(path: Path, **kwargs) -> RunStore:
    return RunStore(path, backend="sim", station_text="station", procedure_text="procedure", **kwargs)


def _series(store: RunStore, index: int = 1, columns=("a", "b", "c")):
    writer = store.begin_step(index, "bias_sweep", {"step": {"value": 1e-6, "units": "A"}}, {})
    writer.declare_series({name: "A" for name in columns}, signal=columns[0], axes=[columns[1]])
    return writer


def _child(code: str, tmp_path: Path, limit_kib: int | None = None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python with this repository's `sqm` (and a file-size limit)."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    command = [sys.executable, str(script)]
    if limit_kib is not None:  # a full disk, as the kernel reports it (EFBIG; Python ignores SIGXFSZ)
        command = ["bash", "-c", f'ulimit -f {limit_kib} && exec "$@"', "bash", *command]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


# 1. Points are flushed once they are old, even when no further point comes ------------------
def test_flush_if_due_writes_old_points_and_does_nothing_when_none_are_due(tmp_path, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(sqm.store, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    store = _store(tmp_path / "run.h5", flush_interval=0.5)
    writer = _series(store)
    h5py_calls = []
    for name in ("flush",):
        original = getattr(h5py.File, name)
        monkeypatch.setattr(h5py.File, name, lambda self, _o=original, _n=name: (h5py_calls.append(_n), _o(self))[1])
    for name in ("resize", "__setitem__", "__getitem__"):
        original = getattr(h5py.Dataset, name)
        monkeypatch.setattr(
            h5py.Dataset, name, lambda self, *a, _o=original, _n=name: (h5py_calls.append(_n), _o(self, *a))[1]
        )
    original_group_getitem = h5py.Group.__getitem__
    monkeypatch.setattr(
        h5py.Group, "__getitem__", lambda self, key: (h5py_calls.append("group"), original_group_getitem(self, key))[1]
    )

    writer.flush_if_due()  # nothing buffered: nothing to do
    store.flush_if_due()
    writer.append(a=1.0, b=2.0, c=3.0)
    clock.now += 0.3
    writer.flush_if_due()  # 0.3 s old: not due yet
    store.flush_if_due()
    assert h5py_calls == []  # cheap: not a single h5py call when nothing is due

    clock.now += 0.3  # 0.6 s old, and no further point is coming (a long settle, a wait)
    writer.flush_if_due()
    assert "flush" in h5py_calls  # written *and* flushed to disk
    h5py_calls.clear()
    writer.flush_if_due()  # the buffer is empty again
    assert h5py_calls == []
    data = store.h5file["001_bias_sweep/data"]
    assert [data[name].shape[0] for name in "abc"] == [1, 1, 1]

    # the RunStore does the same for its open steps
    writer.append(a=4.0, b=5.0, c=6.0)
    clock.now += 0.6
    store.flush_if_due()
    assert data["a"][()].tolist() == [1.0, 4.0]
    writer.finish("completed")
    store.close()


def test_an_appended_point_waits_at_most_the_flush_interval_counted_from_the_oldest_point(tmp_path, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(sqm.store, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    store = _store(tmp_path / "run.h5", flush_interval=0.5)
    writer = _series(store)
    data = store.h5file["001_bias_sweep/data"]
    clock.now += 10  # a long settle before the first point of the step
    writer.append(a=1.0)
    assert data["a"].shape == (0,)  # batched, not written point by point
    clock.now += 0.2
    writer.append(a=2.0)
    clock.now += 0.2
    writer.append(a=3.0)
    assert data["a"].shape == (0,)
    clock.now += 0.1  # the first point is now 0.5 s old
    writer.append(a=4.0)
    assert data["a"][()].tolist() == [1.0, 2.0, 3.0, 4.0]
    store.close()


def test_points_recorded_before_a_long_wait_survive_sigkill(tmp_path):
    child = _child(
        """
        import os, signal, time
        from sqm.store import RunStore
        store = RunStore("run.h5", backend="sim", station_text="", procedure_text="", flush_interval=0.2)
        writer = store.begin_step(1, "bias_sweep", {}, {})
        writer.declare_series({"bias_current": "A", "flux": "Phi0"}, "flux", ["bias_current"])
        for i in range(3):
            writer.append(bias_current=i * 1e-6, flux=0.1 * i)
        time.sleep(0.3)      # the step now settles or waits: no further point comes
        writer.flush_if_due()  # the runner calls this at checkpoints and during waits
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        tmp_path,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    with h5py.File(tmp_path / "run.h5", "r", swmr=True) as h5:
        data = h5["001_bias_sweep/data"]
        np.testing.assert_allclose(data["bias_current"][()], [0.0, 1e-6, 2e-6])
        np.testing.assert_allclose(data["flux"][()], [0.0, 0.1, 0.2])


def test_declared_series_and_images_are_on_disk_at_once(tmp_path):
    child = _child(
        """
        import os, signal
        import numpy as np
        from sqm.store import RunStore
        store = RunStore("run.h5", backend="sim", station_text="", procedure_text="")
        image = store.begin_step(1, "raster_scan", {}, {})
        image.declare_image("flux", "Phi0", ("y", np.arange(3.0), "m"), ("x", np.arange(4.0), "m"))
        series = store.begin_step(2, "bias_sweep", {}, {})
        series.declare_series({"bias_current": "A", "flux": "Phi0"}, "flux", ["bias_current"])
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        tmp_path,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    with h5py.File(tmp_path / "run.h5", "r", swmr=True) as h5:
        series = h5["002_bias_sweep/data"]
        assert series.attrs["signal"] == "flux"
        assert {name: series[name].attrs["units"] for name in series} == {"bias_current": "A", "flux": "Phi0"}
        image = h5["001_raster_scan/data"]
        assert image["flux"].shape == (3, 4) and np.isnan(image["flux"][()]).all()
        assert image["x"][()].tolist() == [0.0, 1.0, 2.0, 3.0]


# 2. Run files are never overwritten; names are UTC ------------------------------------------
@pytest.fixture
def frozen_second(monkeypatch):
    """Every new_run_path call happens in the same second."""
    instant = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return instant.astimezone(tz) if tz else instant.replace(tzinfo=None)

    monkeypatch.setattr(sqm.session, "datetime", Frozen)
    return instant


def test_two_runs_named_in_the_same_second_never_share_a_file(tmp_path, frozen_second):
    # two runs (two processes, or the GUI and a script) both ask for a name before either opens it
    first, second = new_run_path(tmp_path, "loop.yaml"), new_run_path(tmp_path, "loop.yaml")
    assert first.name == "20260304-050607_loop.h5"
    assert second.name == "20260304-050607_loop-2.h5"
    store = _store(first)
    _series(store).append(a=1.0, b=2.0, c=3.0)
    store.set_run_status("completed")
    store.close()
    _store(second).close()
    with h5py.File(first, "r") as h5:  # the finished run is intact
        assert h5.attrs["status"] == "completed"
        assert h5["001_bias_sweep/data/a"][()].tolist() == [1.0]


def test_concurrent_runs_in_the_same_second_each_get_their_own_readable_file(tmp_path, frozen_second):
    barrier = threading.Barrier(6)
    paths, errors = [], []

    def one_run(number: int) -> None:
        try:
            barrier.wait(10)
            path = new_run_path(tmp_path, "loop.yaml")
            store = _store(path)
            store.begin_step(1, "set", {"n": {"value": number, "units": ""}}, {}).finish("completed")
            store.set_run_status("completed")
            store.close()
            paths.append(path)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=one_run, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(set(paths)) == 6
    numbers = set()
    for path in paths:
        with h5py.File(path, "r") as h5:
            assert h5.attrs["status"] == "completed"
            numbers.add(json.loads(h5["001_set"].attrs["parameters"])["n"]["value"])
    assert numbers == set(range(6))


def test_a_name_claimed_by_another_process_is_skipped_and_never_opened(tmp_path):
    from sqm.store import reserve_run_path

    mine = reserve_run_path(tmp_path, "20260304-050607_loop")
    child = _child(
        f"""
        from sqm.store import RunStore, reserve_run_path
        theirs = reserve_run_path({str(tmp_path)!r}, "20260304-050607_loop")
        print(theirs.name)
        try:
            RunStore({str(mine)!r}, backend="sim", station_text="", procedure_text="")
        except FileExistsError as error:
            print("refused:", error)
        """,
        tmp_path,
    )
    assert child.returncode == 0, child.stderr
    name, refusal = child.stdout.splitlines()
    assert name == "20260304-050607_loop-2.h5"
    assert refusal.startswith("refused:") and "never overwritten" in refusal
    store = _store(mine)  # our own claim: ours to write
    store.close()
    with h5py.File(mine, "r") as h5:
        assert h5.attrs["status"] == "running"


def test_an_explicit_path_that_exists_is_refused_and_left_intact(tmp_path):
    path = tmp_path / "run.h5"
    store = _store(path)
    _series(store).append(a=1.0, b=2.0, c=3.0)
    store.set_run_status("completed")
    store.close()
    with pytest.raises(FileExistsError, match="never overwritten"):
        _store(path)
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "completed"
        assert h5["001_bias_sweep/data/a"][()].tolist() == [1.0]
    other = tmp_path / "notes.txt"
    other.write_text("not ours")
    with pytest.raises(FileExistsError):
        _store(other)
    assert other.read_text() == "not ours"


@pytest.fixture
def far_from_utc(monkeypatch):
    """A local time zone 7 hours ahead of UTC (a POSIX TZ string: no tz database needed)."""
    monkeypatch.setenv("TZ", "SQM-07")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_run_file_names_carry_the_utc_time(tmp_path, far_from_utc):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    path = new_run_path(tmp_path, "configs/procedures/fig3_bias_loop.yaml")
    after = datetime.now(timezone.utc)
    stamp, stem = path.stem.split("_", 1)
    named = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    assert before <= named <= after
    assert stem == "fig3_bias_loop"
    with _store(path).h5file as h5:  # and `created` (UTC) agrees with the name
        created = datetime.fromisoformat(h5.attrs["created"])
    assert abs((created - named).total_seconds()) < 5


def test_a_folder_that_cannot_take_the_file_is_a_one_line_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserInputError, match="cannot create the run file"):
        new_run_path(blocker / "runs", "loop.yaml")


# 3. A failed write leaves every column aligned, and loses nothing ---------------------------
@pytest.mark.parametrize("failing", ["__setitem__", "resize"])
def test_a_write_that_fails_on_one_column_leaves_all_columns_aligned(tmp_path, monkeypatch, failing):
    store = _store(tmp_path / "run.h5")
    writer = _series(store)
    original = getattr(h5py.Dataset, failing)
    failures = {"left": 1}

    def flaky(self, *args):
        if self.name.endswith("/c") and failures["left"]:
            failures["left"] -= 1
            raise OSError("Can't write data (file write failed: errno = 28, No space left on device)")
        return original(self, *args)

    monkeypatch.setattr(h5py.Dataset, failing, flaky)
    writer.append(a=1.0, b=2.0, c=3.0)
    with pytest.raises(OSError):
        store.flush()
    data = store.h5file["001_bias_sweep/data"]
    assert [data[name].shape[0] for name in "abc"] == [0, 0, 0]  # trimmed back, all of them
    store.flush()  # the space is back: the buffered point is written once, aligned
    assert {name: data[name][()].tolist() for name in "abc"} == {"a": [1.0], "b": [2.0], "c": [3.0]}
    writer.append(a=4.0, c=6.0)
    writer.finish("completed")
    store.close()
    with h5py.File(tmp_path / "run.h5", "r", swmr=True) as h5:
        data = h5["001_bias_sweep/data"]
        assert data["a"][()].tolist() == [1.0, 4.0] and data["c"][()].tolist() == [3.0, 6.0]
        assert data["b"][0] == 2.0 and np.isnan(data["b"][1])


# Disk full: set_run_status is best effort and raises StoreError; the file stays closable -----
def test_set_run_status_on_a_failing_disk_raises_store_error_and_the_file_still_closes(tmp_path, monkeypatch):
    from sqm.store import StoreError

    path = tmp_path / "run.h5"
    store = _store(path)
    _series(store).append(a=1.0, b=2.0, c=3.0)
    original_flush = h5py.File.flush

    def full(self):
        raise RuntimeError("Unable to flush file's cached information (file write failed: time = now\n, errno = 28)")

    monkeypatch.setattr(h5py.File, "flush", full)
    with pytest.raises(StoreError) as raised:
        store.set_run_status("failed", error="the run went wrong", safe_state="safe")
    assert isinstance(raised.value, OSError)
    message = str(raised.value)
    assert "could not record the run status 'failed'" in message and "errno = 28" in message
    assert "\n" not in message
    monkeypatch.setattr(h5py.File, "flush", original_flush)  # space freed: closing writes it all
    store.close()  # the failure was already reported: close is quiet
    assert not store.h5file.id.valid
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "failed" and h5.attrs["error"] == "the run went wrong"
        assert h5["001_bias_sweep/data/a"][()].tolist() == [1.0]


def test_close_always_releases_the_file_and_reports_what_it_could_not_write(tmp_path, monkeypatch):
    from sqm.store import StoreError

    store = _store(tmp_path / "run.h5")
    _series(store).append(a=1.0, b=2.0, c=3.0)
    monkeypatch.setattr(h5py.Dataset, "resize", lambda self, *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(StoreError, match="could not write buffered points"):
        store.close()
    assert not store.h5file.id.valid
    store.close()  # closing again is harmless


def test_a_really_full_disk_gives_store_errors_and_a_clean_exit(tmp_path):
    # the kernel refuses to grow the file (ulimit -f): appends, the run status and close
    # all report StoreError; the file is released and the process exits normally
    child = _child(
        """
        from sqm.store import RunStore, StoreError
        store = RunStore("run.h5", backend="sim", station_text="x" * 1000, procedure_text="")
        writer = store.begin_step(1, "bias_sweep", {}, {})
        writer.declare_series({"a": "A", "b": "A"}, "a", ["b"])
        try:
            for i in range(1_000_000):
                writer.append(a=float(i), b=float(i))
                if i % 1000 == 0:
                    store.flush()
        except StoreError as error:
            print("append:", type(error).__name__, "\\n" in str(error))
        for what, call in (("finish", lambda: writer.finish("failed", "disk full")),
                           ("status", lambda: store.set_run_status("failed", error="disk full"))):
            try:
                call()
                print(what + ": ok")
            except StoreError as error:
                print(what + ":", type(error).__name__, "\\n" in str(error))
        store.close()
        print("released:", not store.h5file.id.valid)
        import h5py
        with h5py.File("run.h5", "r") as h5:
            data = h5["001_bias_sweep/data"]
            print("readback:", h5.attrs["status"], h5["001_bias_sweep"].attrs["status"],
                  data["a"].shape[0] >= 1000, data["a"].shape == data["b"].shape)
        """,
        tmp_path,
        limit_kib=200,
    )
    assert child.returncode == 0, child.stderr[-2000:]  # no crash (it segfaulted at exit before)
    lines = child.stdout.splitlines()
    assert lines[0] == "append: StoreError False"
    # the file was reopened as of its last flush, so the ends could be recorded there
    assert lines[1] in ("finish: StoreError False", "finish: ok")
    assert lines[2] in ("status: StoreError False", "status: ok")
    assert lines[3] == "released: True"
    # what was flushed before the limit is readable, columns aligned, and the ends recorded
    assert lines[4] == "readback: failed failed True True"


# 5. Steps past 999 are read back in their order -----------------------------------------------
def test_more_than_a_thousand_steps_are_read_back_in_step_order(tmp_path):
    path = tmp_path / "long.h5"
    store = _store(path)
    for index in range(1, 1006):
        writer = store.begin_step(index, "set", {"bias_current": {"value": index * 1e-9, "units": "A"}}, {})
        writer.declare_series({"bias_current": "A"}, "bias_current", ["bias_current"])
        writer.append(bias_current=index * 1e-9)
        writer.finish("completed")
    store.set_run_status("completed")
    store.close()
    steps = read_steps(path)
    assert [step.group for step in steps[98:101]] == ["099_set", "100_set", "101_set"]
    assert [step.group for step in steps[998:1001]] == ["999_set", "1000_set", "1001_set"]
    assert [int(step.group.split("_")[0]) for step in steps] == list(range(1, 1006))
    assert [step.data["bias_current"][0] for step in steps] == pytest.approx([i * 1e-9 for i in range(1, 1006)])


def test_a_run_that_cannot_create_its_file_leaves_no_empty_claim(tmp_path, monkeypatch):
    import sqm.session as session
    from sqm.errors import UserInputError
    from sqm.procedure_file import parse_procedure_text
    from sqm.station import Station

    station = Station.from_file()
    procedure_file = parse_procedure_text("steps:\n  - park: {x: 0, y: 0}\n")
    path = session.new_run_path(tmp_path, "claimed.yaml")
    assert path.exists() and path.stat().st_size == 0  # the name is claimed

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(session, "RunStore", refuse)
    with pytest.raises(UserInputError, match="cannot create the run file"):
        session.start_run(station, procedure_file, path)
    assert not path.exists()
