"""The README's script example runs as written."""

import re
import runpy

import pytest

from .conftest import REPO


def test_the_readme_script_example_runs(tmp_path, monkeypatch, capsys):
    readme = (REPO / "README.md").read_text()
    (example,) = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "run_procedure" in block]
    (tmp_path / "configs").symlink_to(REPO / "configs")
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "example.py"
    script.write_text(example)
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert "completed" in printed and "s of lab time" in printed
    switching = float(re.search(r"switching at (-?[\d.]+) uA", printed).group(1))
    assert abs(switching + 120) <= 5
    assert list((tmp_path / "runs").glob("*.h5"))


def test_the_readme_sample_file_runs_as_a_new_user_writes_it(tmp_path, monkeypatch, capsys):
    """The README's "Your own sample": its sample file, its station line, `sqm check` and
    `sqm run` of fig3, and its step naming another pair of leads."""
    from sqm.cli import main

    readme = (REPO / "README.md").read_text()
    section = readme.split("### Your own sample", 1)[1].split("\n### ", 1)[0]
    sample_text, steps_text = [block for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    (sed_line, check_line, run_line) = re.findall(r"```bash\n(.*?)```", section, re.S)[0].strip().splitlines()
    (tmp_path / "configs" / "samples").mkdir(parents=True)
    (tmp_path / "configs" / "samples" / "my_flake.yaml").write_text(sample_text)
    station = (REPO / "configs" / "stations" / "sim.yaml").read_text()
    assert sed_line.startswith("sed 's#configs/samples/fese_flake.yaml#configs/samples/my_flake.yaml#' ")
    (tmp_path / "my-station.yaml").write_text(station.replace("configs/samples/fese_flake.yaml",
                                                               "configs/samples/my_flake.yaml"))
    (tmp_path / "configs" / "procedures").symlink_to(REPO / "configs" / "procedures")
    monkeypatch.chdir(tmp_path)
    for line in (check_line, run_line):
        command = line.split("#")[0].split()
        assert command[0] == "sqm"
        assert main(command[1:] + ["--out", "runs"] if command[1] == "run" else command[1:]) == 0, capsys.readouterr()
    (tmp_path / "leads.yaml").write_text(steps_text)
    assert main(["run", "leads.yaml", "--station", "my-station.yaml", "--out", "runs"]) == 0, capsys.readouterr()
    assert len(list((tmp_path / "runs").glob("*.h5"))) == 2


def test_the_readme_finding_the_surface_runs_as_a_new_user_types_it(tmp_path, monkeypatch, capsys):
    """The README's "Finding the surface": its two shell lines (a tilted copy of the paper's
    flake, a station with it 300 um down) and `sqm run` of find_surface.yaml; the plane it
    reports is the sample's."""
    import math
    import subprocess

    import h5py

    from sqm.cli import main
    from sqm.readback import find_step, read_steps

    readme = (REPO / "README.md").read_text()
    section = readme.split("### Finding the surface", 1)[1].split("\n### ", 1)[0]
    (sample_line, station_line, run_line) = re.findall(r"```bash\n(.*?)```", section, re.S)[0].strip().splitlines()
    (tmp_path / "configs" / "samples").mkdir(parents=True)
    (tmp_path / "configs" / "stations").mkdir()
    for name in ("samples/fese_flake.yaml", "stations/sim.yaml"):
        (tmp_path / "configs" / name).write_text((REPO / "configs" / name).read_text())
    (tmp_path / "configs" / "procedures").symlink_to(REPO / "configs" / "procedures")
    monkeypatch.chdir(tmp_path)
    for line in (sample_line, station_line):
        subprocess.run(["bash", "-c", line], check=True, cwd=tmp_path)
    command = run_line.split()
    assert command[:2] == ["sqm", "run"]
    assert main(command[1:] + ["--out", "runs"]) == 0, capsys.readouterr()
    (path,) = (tmp_path / "runs").glob("*.h5")
    steps = read_steps(path)
    assert [step.status for step in steps] == ["completed"] * 5
    with h5py.File(path, "r") as h5:
        fit = h5[find_step(steps, "plane_fit").group].attrs
        coarse = h5[find_step(steps, "coarse_approach").group].attrs
        tilt, residual, coarse_steps = fit["surface_tilt_degrees"], fit["plane_rms_residual_m"], coarse["coarse_steps"]
    assert tilt == pytest.approx(math.degrees(math.atan(math.hypot(0.015, 0.008))), abs=0.01)
    assert f"found at {tilt:.3f} degree" in section and f"{residual * 1e9:.0f} nm rms residual" in section
    assert f"{coarse_steps} coarse steps" in section  # the README quotes this run
    scan = find_step(steps, "raster_scan")
    assert scan.data["flux"].shape == scan.data["flux_retrace"].shape
