"""`sqm show` and `read_steps` on files SQM did not write, odd content, a run still being
written, and runs of more than 999 steps: a description or a one-line error, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from sqm.cli import main
from sqm.readback import RunFileError, read_steps
from sqm.show import describe
from sqm.store import RunStore

from ..conftest import REPO


def _show(path: Path, capsys) -> tuple[int, str, str]:
    status = main(["show", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return status, captured.out, captured.err


@pytest.fixture
def odd_file(tmp_path) -> Path:
    """Groups that look like steps but hold what SQM never writes."""
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["status"] = "completed"
        h5.attrs["error"] = "line one\nline two"
        text = h5.create_group("001_set")  # parameters that are not JSON
        text.attrs["procedure"] = "set"
        text.attrs["parameters"] = "bias_current=5 uA"
        text.attrs["status"] = "completed"
        text.create_group("data").create_dataset("bias_current", data=[5e-6]).attrs["units"] = "A"
        plain = h5.create_group("002_bias_sweep")  # plain values, a dataset named data
        plain.attrs["procedure"] = "bias_sweep"
        plain.attrs["parameters"] = '{"a": 1, "points": [0, 1e-4]}'
        plain.create_dataset("data", data=np.arange(4.0))
        nested = h5.create_group("003_field_sweep")  # a subgroup inside data; a list as parameters
        nested.attrs["procedure"] = "field_sweep"
        nested.attrs["parameters"] = "[1, 2]"
        data = nested.create_group("data")
        data.attrs["signal"] = "flux"
        data.create_dataset("flux", data=np.zeros(3)).attrs["units"] = "Phi0"
        data.create_group("fits").create_dataset("slope", data=[1.0])
        raw = h5.create_group("004_park")  # bytes attributes (fixed-length strings of other tools)
        raw.attrs["procedure"] = np.bytes_(b"park")
        raw.attrs["parameters"] = np.bytes_(b'{"x": {"value": 3e-05, "units": "m"}}')
        raw.attrs["status"] = np.bytes_(b"completed")
        h5.create_dataset("calibration", data=np.ones((2, 2)))  # a dataset at the root
        h5.create_group("notes")  # a group that is not a step
    return path


def test_show_describes_odd_content_instead_of_crashing(odd_file, capsys):
    status, out, err = _show(odd_file, capsys)
    assert status == 0, err
    assert "  error: line one line two" in out  # one line
    assert "001_set  [completed]" in out and "raw = bias_current=5 uA" in out
    assert "data/bias_current: (1,) [A]" in out
    assert "002_bias_sweep  [?]" in out and "  a = 1" in out and "  points = [0, 0.0001]" in out
    assert "  data: (4,) [?]" in out
    assert "data/flux: (3,) [Phi0] (signal)" in out and "data/fits/  (group of 1)" in out
    assert "  value = [1, 2]" in out
    assert "004_park  [completed]" in out and "  x = 30 um" in out
    assert "calibration: (2, 2) [?]" in out and "notes  [?]" in out


def test_read_steps_reads_odd_content_as_far_as_it_makes_sense(odd_file):
    steps = read_steps(odd_file)
    assert [step.group for step in steps] == ["001_set", "002_bias_sweep", "003_field_sweep", "004_park"]
    by_group = {step.group: step for step in steps}
    assert by_group["001_set"].parameters == {"raw": "bias_current=5 uA"}
    assert by_group["002_bias_sweep"].parameters == {"a": 1, "points": [0, 1e-4]}
    assert by_group["002_bias_sweep"].data["data"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert set(by_group["003_field_sweep"].data) == {"flux"} and by_group["003_field_sweep"].units["flux"] == "Phi0"
    assert by_group["004_park"].procedure == "park" and by_group["004_park"].status == "completed"
    assert by_group["004_park"].parameters == {"x": {"value": 3e-05, "units": "m"}}


def test_a_foreign_hdf5_file_is_a_clear_error_for_the_run_browser(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("image", data=np.zeros((2, 2)))
        h5.create_group("entry").create_dataset("data", data=[1.0])
    with pytest.raises(ValueError, match="not an SQM run file") as raised:  # the run browser catches ValueError
        read_steps(path)
    assert "\n" not in str(raised.value)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        read_steps(text)
    empty = tmp_path / "empty.h5"  # a name claimed by a run that never started
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty file"):
        read_steps(empty)


def test_show_reads_a_run_that_another_program_is_still_writing(tmp_path, capsys):
    path = tmp_path / "live.h5"
    code = textwrap.dedent(
        f"""
        import sys, time
        from sqm.store import RunStore
        store = RunStore({str(path)!r}, backend="sim", station_text="", procedure_text="")
        writer = store.begin_step(1, "bias_sweep", {{"step": {{"value": 2e-06, "units": "A"}}}}, {{}})
        writer.declare_series({{"bias_current": "A", "flux": "Phi0"}}, "flux", ["bias_current"])
        for i in range(5):
            writer.append(bias_current=i * 2e-6, flux=0.0)
        store.flush()
        print("ready", flush=True)
        sys.stdin.read()  # hold the file open (and locked) until the test is done
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        status, out, err = _show(path, capsys)
        assert status == 0, err
        assert "status: running" in out and "001_bias_sweep  [running]" in out
        assert "data/flux: (5,) [Phi0] (signal)" in out
        (step,) = read_steps(path)  # the run browser can open it too
        assert step.data["bias_current"].tolist() == pytest.approx([0, 2e-6, 4e-6, 6e-6, 8e-6])
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def _open_error(path: Path) -> str:
    """The RunFileError of opening `path` in this process (sqm show opens files in a child,
    where a monkeypatched h5py does not reach; the text is the same)."""
    with pytest.raises(RunFileError) as raised:
        read_steps(path)
    return str(raised.value)


def test_a_file_that_cannot_be_opened_because_it_is_in_use_says_so_on_one_line(tmp_path, monkeypatch):
    path = tmp_path / "busy.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")

    def locked(*args, **kwargs):
        raise BlockingIOError(
            11, "Unable to synchronously open file (unable to lock file, errno = 11, error message = "
            "'Resource temporarily unavailable')\n, filename = 'busy.h5'"
        )

    monkeypatch.setattr(h5py, "File", locked)
    error = _open_error(path)
    assert "in use by another program" in error and "not a readable" not in error
    assert "\n" not in error


def test_hdf5_error_text_is_shown_on_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "cut.h5"
    store = RunStore(path, backend="sim", station_text="", procedure_text="")
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a file cut short
    status, out, err = _show(path, capsys)
    assert status == 2 and "not a readable HDF5 file" in err
    assert len(err.strip().splitlines()) == 1

    def read_failed(*args, **kwargs):  # HDF5 puts ctime(), newline included, in I/O errors
        raise OSError(
            "Unable to synchronously open file (file read failed: time = Tue Nov 24 10:26:01 2026\n"
            ", filename = 'cut.h5', file descriptor = 3, errno = 5, error message = 'Input/output error')"
        )

    monkeypatch.setattr(h5py, "File", read_failed)
    error = _open_error(path)
    assert "not a readable HDF5 file" in error and "Input/output error" in error
    assert "\n" not in error


def test_show_lists_more_than_a_thousand_steps_in_step_order(tmp_path):
    path = tmp_path / "long.h5"
    store = RunStore(path, backend="sim", station_text="", procedure_text="")
    for index in range(1, 1003):
        store.begin_step(index, "set", {}, {}).finish("completed")
    store.set_run_status("completed")
    store.close()
    started = time.perf_counter()
    step_lines = [line.split()[0] for line in describe(path).splitlines() if line[:1].isdigit()]
    assert time.perf_counter() - started < 30
    assert step_lines[98:101] == ["099_set", "100_set", "101_set"]
    assert step_lines[998:] == ["999_set", "1000_set", "1001_set", "1002_set"]
    assert len(step_lines) == 1002


def test_text_that_is_not_utf8_is_shown_as_replacement_characters(tmp_path):
    """A damaged attribute (bytes that are not UTF-8, as a flipped bit leaves them) is shown
    with U+FFFD where the bytes were: the output stays text a terminal and a pipe can read."""
    path = tmp_path / "odd.h5"
    store = RunStore(path, backend="sim", station_text="", procedure_text="")
    store.h5file.attrs.create("created", np.array(b"2026-12\x93-07", dtype=object), dtype=h5py.string_dtype())
    store.close()
    shown = subprocess.run([sys.executable, "-m", "sqm.cli", "show", str(path)], cwd=REPO, capture_output=True,
                           timeout=60)
    text = shown.stdout.decode("utf-8")  # strict: the old output held the raw byte 0x93 and failed here
    assert "created: 2026-12\ufffd-07" in text
