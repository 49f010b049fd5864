"""A real full disk (a small tmpfs) under `sqm run`: what was flushed stays readable,
the step and the run are marked failed, the exit is one line, and a disk too full to
create the file leaves nothing unreadable behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from sqm.readback import find_step, read_steps

from ..conftest import REPO

LONG_SWEEP = """
steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - park: {x: 30 um, y: -15 um, height: 1 um}
  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA, -200 uA, 200 uA], step: 0.05 uA, integration_time: 0.1 s}
"""

needs_unshare = pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare for a tmpfs")


def run_on_small_disk(tmp_path: Path, size: str, procedure: str, fill_kib: int = 0) -> subprocess.CompletedProcess:
    """`sqm run` with --out on a tmpfs of `size` (in a private mount namespace, so no
    root is needed and nothing stays mounted); `fill_kib` of it taken first by another
    file. What the run wrote is copied to tmp_path/out."""
    (tmp_path / "procedure.yaml").write_text(procedure)
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    script = (
        f'mount -t tmpfs -o size={size} tmpfs "{disk}" || exit 97\n'
        f'[ {fill_kib} -gt 0 ] && head -c {fill_kib}K /dev/zero > "{disk}/filler"\n'
        f'"{sys.executable}" -m sqm.cli run "{tmp_path}/procedure.yaml" --out "{disk}/runs"\n'
        "status=$?\n"
        f'cp -r "{disk}/runs/." "{out}/" 2>/dev/null\n'
        "exit $status\n"
    )
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True,
                            timeout=240, cwd=REPO)
    if result.returncode == 97:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    return result


@needs_unshare
def test_a_disk_that_fills_mid_sweep_keeps_the_flushed_points_and_marks_the_run_failed(tmp_path):
    result = run_on_small_disk(tmp_path, "300k", LONG_SWEEP)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("sqm:")]
    assert any("disk" in line and "full" in line for line in errors), result.stderr
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r") as h5:  # readable, by the ordinary reader, with its status
        assert h5.attrs["status"] == "failed"
        assert "full" in h5.attrs["error"]
        assert h5.attrs["safe_state"] == "safe"
    sweep = find_step(read_steps(path), "bias_sweep")
    assert sweep.status == "failed"
    # seconds of points were flushed before the disk filled, and every one of them is there
    points = len(sweep.data["bias_current"])
    assert points > 100
    assert (sweep.data["bias_current"][1:] >= sweep.data["bias_current"][:-1]).all()  # the virgin ramp, in order


@needs_unshare
def test_a_disk_too_full_to_create_the_file_is_one_line_and_leaves_no_broken_file(tmp_path):
    result = run_on_small_disk(tmp_path, "300k", LONG_SWEEP, fill_kib=290)
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr and result.returncode != -11
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sqm:") and "full" in lines[0], result.stderr
    for path in (tmp_path / "out").glob("*.h5"):  # none, or one that opens and says it failed
        with h5py.File(path, "r") as h5:
            assert h5.attrs["status"] == "failed"
