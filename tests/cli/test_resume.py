"""`sqm resume`: a run killed (SIGKILL) or aborted in the middle goes on into the same file,
and ends as the uninterrupted run would have."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from tests.conftest import twin_station_text

REPO = Path(__file__).resolve().parents[2]
IMAGE_THEN_SWEEP = """
steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - raster_scan: {x: [10 um, 40 um], y: [-30 um, 0 um], pixel_size: 1 um, line_time: 10 s, bias_current: 150 uA,
                  reconstruct: false}
  - bias_sweep: {points: [150 uA, -150 uA, 150 uA], step: 5 uA, integration_time: 2 s}
"""
RASTER, SWEEP = "002_raster_scan", "003_bias_sweep"
# What a reader polling a running file may meet: the file not created yet, or a step the
# writer is adding, half-flushed (sqm.readback.LIVE_READ_ATTEMPTS)
HALF_FLUSHED = (OSError, KeyError, RuntimeError, ValueError)
LINES, SWEEP_POINTS = 31, 121


def _sqm(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sqm.cli", *arguments], cwd=REPO, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def _files(tmp_path: Path, **sim) -> tuple[Path, Path]:
    station = tmp_path / "station.yaml"
    station.write_text(twin_station_text(**sim))
    procedure = tmp_path / "image_then_sweep.yaml"
    procedure.write_text(IMAGE_THEN_SWEEP)
    return station, procedure


def _taken(h5: h5py.File, group: str) -> int:
    """Lines (an image) or points (a series) the step holds."""
    data = h5[group]["data"]
    flux = data["flux"]
    if flux.ndim == 2:
        return int(np.sum(~np.all(np.isnan(flux[()]), axis=1)))
    return flux.shape[0]


def _run_and_kill(tmp_path: Path, station: Path, procedure: Path, group: str, after: int) -> tuple[Path, int]:
    """`sqm run` in a child, SIGKILLed once step `group` holds `after` lines or points."""
    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-m", "sqm.cli", "run", str(procedure), "--station", str(station),
                              "--out", str(out)], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and child.poll() is None:
            for path in out.glob("*.h5"):
                try:
                    with h5py.File(path, "r", swmr=True) as h5:
                        if f"{group}/data/flux" in h5 and _taken(h5, group) >= after:
                            child.send_signal(signal.SIGKILL)
                            child.wait(30)
                            with h5py.File(path, "r", swmr=True) as killed:
                                return path, _taken(killed, group)
                except HALF_FLUSHED:  # being created, or a step half-flushed: read again
                    pass
            time.sleep(0.01)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    raise AssertionError(f"the run was not killed in {group}: {child.stderr.read().decode()}")


def _uninterrupted(tmp_path: Path, procedure: Path, **sim) -> Path:
    station = tmp_path / "uninterrupted.yaml"
    station.write_text(twin_station_text(**sim))
    done = _sqm("run", str(procedure), "--station", str(station), "--out", str(tmp_path / "whole"))
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def _read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:  # a resumed run closes its file: any reader opens it
        return {"image": h5[f"{RASTER}/data/flux"][()], "sweep": h5[f"{SWEEP}/data/flux"][()],
                "bias": h5[f"{SWEEP}/data/bias_current"][()], "status": h5.attrs["status"],
                "resumed": json.loads(h5.attrs["resumed"]) if "resumed" in h5.attrs else None,
                "raster_resumed": json.loads(h5[RASTER].attrs.get("resumed", "[]")),
                "sweep_resumed": json.loads(h5[SWEEP].attrs.get("resumed", "[]")),
                "steps": sorted(h5)}


@pytest.mark.parametrize("group, after", [(RASTER, 9), (SWEEP, 40)], ids=["mid-image", "mid-sweep"])
def test_a_run_killed_in_the_middle_resumes_to_the_uninterrupted_result_noise_free(tmp_path, group, after):
    station, procedure = _files(tmp_path, pace=100.0, flux_noise=0.0)
    killed, taken = _run_and_kill(tmp_path, station, procedure, group, after)
    assert 0 < taken < (LINES if group == RASTER else SWEEP_POINTS)
    resumed = _sqm("resume", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    unit = "lines" if group == RASTER else "points"
    assert f"at step {group[2]} ({group[4:]}) from {taken} {unit} already in the file" in resumed.stderr
    whole = _read(_uninterrupted(tmp_path, procedure, flux_noise=0.0))
    after_resume = _read(killed)
    assert after_resume["status"] == "completed" and after_resume["steps"] == whole["steps"]
    assert not np.isnan(after_resume["image"]).any()  # no line missing
    assert len(after_resume["sweep"]) == SWEEP_POINTS  # no point missing or doubled
    np.testing.assert_array_equal(after_resume["image"], whole["image"])
    np.testing.assert_array_equal(after_resume["sweep"], whole["sweep"])
    np.testing.assert_array_equal(after_resume["bias"], whole["bias"])
    (continuation,) = after_resume["resumed"]
    assert continuation["from_step"] == int(group[:3]) and continuation["from"] == taken
    assert continuation["replayed"] is True
    (step_record,) = after_resume["raster_resumed" if group == RASTER else "sweep_resumed"]
    assert step_record["from"] == taken and step_record["status"] == "running"  # killed: no end recorded


def test_with_noise_the_resumed_image_keeps_what_was_taken_and_the_rest_is_within_the_noise(tmp_path):
    station, procedure = _files(tmp_path, pace=100.0)
    killed, taken = _run_and_kill(tmp_path, station, procedure, RASTER, 12)
    assert _sqm("resume", str(killed)).returncode == 0
    whole = _read(_uninterrupted(tmp_path, procedure))["image"]
    image = _read(killed)["image"]
    np.testing.assert_array_equal(image[:taken], whole[:taken])  # the lines taken before the kill, untouched
    difference = image[taken:] - whole[taken:]
    # 1 uPhi0/sqrt(Hz) over 0.32 s a pixel: ~1.3 uPhi0 a pixel, a few times that in the difference of two
    assert np.sqrt(np.mean(difference ** 2)) < 4e-6, np.sqrt(np.mean(difference ** 2))
    assert np.abs(difference).max() < 2e-5
    assert np.corrcoef(image.ravel(), whole.ravel())[0, 1] > 0.999  # the same picture


def test_an_aborted_run_resumes_after_its_safe_state(tmp_path):
    station, procedure = _files(tmp_path, pace=100.0, flux_noise=0.0)
    out = tmp_path / "aborted"
    child = subprocess.Popen([sys.executable, "-m", "sqm.cli", "run", str(procedure), "--station", str(station),
                              "--out", str(out)], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        files = list(out.glob("*.h5"))
        try:
            if files and _holds(files[0], RASTER, 5):
                break
        except HALF_FLUSHED:
            pass
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=120)
    assert child.returncode == 3
    (path,) = out.glob("*.h5")
    with h5py.File(path, "r") as h5:  # an abort closes the file: any reader opens it
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
    resumed = _sqm("resume", str(path))
    assert resumed.returncode == 0, resumed.stderr
    after = _read(path)
    assert after["status"] == "completed" and not np.isnan(after["image"]).any()
    (record,) = after["raster_resumed"]
    assert record["status"] == "aborted" and "Ctrl-C" in record["error"]  # how the first part ended, kept
    with h5py.File(path, "r") as h5:
        assert "error" not in h5[RASTER].attrs and h5[RASTER].attrs["status"] == "completed"
        assert json.loads(h5.attrs["resumed"])[0]["previous_status"] == "aborted"


def _holds(path: Path, group: str, lines: int) -> bool:
    with h5py.File(path, "r", swmr=True) as h5:
        return f"{group}/data/flux" in h5 and _taken(h5, group) >= lines


def test_a_completed_run_is_refused_in_one_line(tmp_path):
    _, procedure = _files(tmp_path)
    whole = _uninterrupted(tmp_path, procedure, flux_noise=0.0)
    refused = _sqm("resume", str(whole))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == f"sqm: error: {whole}: cannot resume: the run completed; nothing is left to do\n"


def test_a_station_whose_limits_the_rest_breaks_is_refused_before_anything_moves(tmp_path):
    station, procedure = _files(tmp_path, pace=100.0, flux_noise=0.0)
    killed, _ = _run_and_kill(tmp_path, station, procedure, RASTER, 3)
    narrower = yaml.safe_load(station.read_text())
    narrower["limits"]["bias_current"]["max_abs"] = "100 uA"  # the image holds 150 uA
    narrower_path = tmp_path / "narrower.yaml"
    narrower_path.write_text(yaml.safe_dump(narrower))
    before = killed.read_bytes()
    refused = _sqm("resume", str(killed), "--station", str(narrower_path))
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert f"{killed}: cannot resume: step 2 (raster_scan) breaks the station's limits" in refused.stderr
    assert killed.read_bytes() == before  # nothing written


def test_a_run_still_being_written_is_refused(tmp_path):
    station, procedure = _files(tmp_path, pace=20.0, flux_noise=0.0)
    out = tmp_path / "live"
    child = subprocess.Popen([sys.executable, "-m", "sqm.cli", "run", str(procedure), "--station", str(station),
                              "--out", str(out)], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not [path for path in out.glob("*.h5") if path.stat().st_size > 0]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
        (path,) = out.glob("*.h5")
        refused = _sqm("resume", str(path))
    finally:
        child.kill()
        child.wait(30)
    assert refused.returncode == 2, refused.stderr
    assert f"{path}: cannot resume: it is still being written (pid {child.pid} on " in refused.stderr


def test_bad_paths_are_one_line(tmp_path):
    for path, reason in ((tmp_path / "nowhere.h5", "no such file"), (tmp_path, "is a folder")):
        refused = _sqm("resume", str(path))
        assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1 and reason in refused.stderr


def test_a_step_run_again_after_an_earlier_resume_is_recognised(tmp_path):
    """A step that is not resumable runs again as NNN_<procedure>_rerun; a second resume must
    take that group for the step it is, not refuse the file."""
    from sqm.resume import plan_resume
    from sqm.store import RunStore

    procedure = "steps:\n  - park: {x: 30 um, y: -15 um}\n  - bias_sweep: {points: [0, 10 uA], step: 5 uA}\n"
    path = tmp_path / "twice.h5"
    store = RunStore(path, backend="sim", station_text=twin_station_text(flux_noise=0.0), procedure_text=procedure)
    store.begin_step(1, "park", {}, {}, measures=False).finish("aborted", "SIGINT")
    store.begin_step(1, "park", {}, {}, measures=False, group_name="001_park_rerun").finish("completed")
    sweep = store.begin_step(2, "bias_sweep", {}, {})
    sweep.declare_series({"bias_current": "A", "flux": "Phi0", "temperature": "K", "time": "s", "branch": "1"},
                         "flux", ["bias_current"])
    sweep.append(bias_current=0.0, flux=0.0, temperature=1.5, time=0.0, branch=0.0)
    sweep.finish("aborted", "SIGINT")
    store.set_run_status("aborted", safe_state="safe")
    store.close()
    plan = plan_resume(path)
    try:
        assert plan.first_step == 2 and plan.continuation is not None
        assert plan.continuation.group == "002_bias_sweep" and plan.continuation.done == 1
    finally:
        plan.station.close()
