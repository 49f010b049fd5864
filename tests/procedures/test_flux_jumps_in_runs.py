"""Flux jumps in a run: a loop too slow for the flux slips whole quanta; the file keeps the
raw data, stores them unwrapped beside it, and marks (or retakes) scan lines taken while
the loop was unlocked."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import yaml

from sqm.session import run_procedure
from sqm.station import Station

from ..conftest import twin_station_text

BIAS_SWEEP = "steps:\n  - bias_sweep: {points: [0, 40 uA, 0], step: 1 uA, integration_time: 0.5 s}\n"


def _station(tmp_path: Path, slew_rate: str, name: str) -> Station:
    """The twin with a loop of `slew_rate`; the lock interlock off, as for a run that is
    to go on through jumps and be unwrapped (with it on, a long unlock ends the run)."""
    data = yaml.safe_load(twin_station_text())
    data["sim"]["squid"].update({"slew_rate": slew_rate, "relock_time": "10 ms"})
    data["interlocks"]["squid_lock"] = False
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return Station.from_file(path)


def _run_with_field_jumps(tmp_path: Path, steps: str, slew_rate: str, name: str, jump_before, lines_only: bool):
    """Run `steps` on the twin (loop of `slew_rate`) with the field jumping by 20 G
    (1.16 Phi0 through the SQUID) before the readings `jump_before` (numbered from 1;
    counting only whole scan lines when `lines_only`). The file's path."""
    procedure = tmp_path / f"{name}-procedure.yaml"
    procedure.write_text(steps)
    station = _station(tmp_path, slew_rate, name)
    world = station.backend.roles["squid"].world
    readings = {"n": 0}
    original = world.sensor_reading

    def reading(xs, ys, signal, dwell, zs=None, times=None):
        if np.ndim(xs) or not lines_only:
            readings["n"] += 1
            if readings["n"] in jump_before:
                world.field += 2e-3
        return original(xs, ys, signal, dwell, zs, times=times)

    world.sensor_reading = reading
    folder = tmp_path / name
    folder.mkdir()
    result = run_procedure(procedure, station, folder)
    assert result.outcome.status == "completed", result.outcome.error
    return result.path


def _sweep_with_field_jumps(tmp_path: Path, slew_rate: str, name: str) -> Path:
    """A bias sweep above T_c (the film normal: no flux of its own, noise only) with the
    field jumping before readings 20 and 50."""
    return _run_with_field_jumps(tmp_path, BIAS_SWEEP, slew_rate, name, (20, 50), lines_only=False)


def test_a_sweep_faster_than_the_loop_is_unwrapped_to_the_run_that_kept_up(tmp_path):
    # a loop of 10 mPhi0/s slips a whole quantum at each jump; a fast one follows it.
    # The noise streams are the same in both runs.
    slow = _sweep_with_field_jumps(tmp_path, "0.01 Phi0/s", "slow")
    fast = _sweep_with_field_jumps(tmp_path, "1e5 Phi0/s", "fast")
    with h5py.File(slow) as slow_file, h5py.File(fast) as fast_file:
        slow_step, fast_step = slow_file["001_bias_sweep"], fast_file["001_bias_sweep"]
        raw, reference = slow_step["data/flux"][()], fast_step["data/flux"][()]
        offsets = raw - reference
        np.testing.assert_allclose(offsets, np.round(offsets), rtol=0, atol=1e-12)  # whole quanta
        assert sorted(set(np.round(offsets))) == [-2.0, -1.0, 0.0]
        np.testing.assert_allclose(slow_step["data/flux_unwrapped"][()], reference, rtol=0, atol=1e-12)
        assert slow_step.attrs["flux_flux_jumps"] == 2
        assert "flux_unwrapped" not in fast_step["data"]  # nothing to unwrap when the loop kept up


SCAN = ("steps:\n"
        "  - raster_scan: {x: [0, 11 um], y: [0, 11 um], pixel_size: 1 um, line_time: 1 s, height: 2 um, "
        "reconstruct: false, repeat_unlocked_lines: REPEATS}\n")


def _scan_with_a_field_jump(tmp_path: Path, repeats: int, name: str) -> h5py.File:
    """A scan above T_c (no screening) with the field jumping as line 5 (from 0) starts:
    1.16 Phi0 through the SQUID within one sample, for a loop of 1 Phi0/s."""
    path = _run_with_field_jumps(tmp_path, SCAN.replace("REPEATS", str(repeats)), "1 Phi0/s", name, (6,),
                                 lines_only=True)
    return h5py.File(path)


def test_a_line_taken_while_unlocked_is_marked_and_the_image_unwrapped(tmp_path):
    with _scan_with_a_field_jump(tmp_path, repeats=0, name="marked") as h5:
        step = h5["001_raster_scan"]
        assert step.attrs["unlocked_lines"] == 1
        assert list(np.flatnonzero(step["data/line_unlocked"][()])) == [5]
        raw, unwrapped = step["data/flux"][()], step["data/flux_unwrapped"][()]
        # the slip moved every line from 5 on by a whole quantum; unwrapped, the image is the
        # normal film's (noise only) throughout, and the raw image is as it was taken
        assert np.abs(np.median(raw[5:]) - np.median(raw[:5])) > 0.9
        assert np.abs(unwrapped - np.median(unwrapped)).max() < 1e-3
        assert np.all(np.isin(np.round(raw - unwrapped), (-1.0, 0.0, 1.0)))


def test_a_line_taken_while_unlocked_is_retaken_after_the_relock(tmp_path):
    with _scan_with_a_field_jump(tmp_path, repeats=2, name="retaken") as h5:
        step = h5["001_raster_scan"]
        assert step.attrs["unlocked_lines"] == 0
        assert list(step["data/line_attempts"][()]) == [1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1]
        assert "line_unlocked" in step["data"] and not step["data/line_unlocked"][()].any()
