"""Instruments on another PC through PyLECO: a Coordinator and two Actors on loopback (each
`sqm actor`, hosting an emulated instrument's connection), the station running the paper's
bias loop with its current source and magnet reached through them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sqm.cli import main
from sqm.readback import find_step, read_steps

pytest.importorskip("pyleco")

REPO = Path(__file__).resolve().parents[2]
REMOTE_ROLES = ("current_source", "magnet")
FIG3 = (REPO / "configs" / "procedures" / "fig3_bias_loop.yaml").read_text()  # the paper's bias loop


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _remote_station(tmp_path: Path, coordinator_port: int) -> Path:
    """lab-emulated.yaml on free ports, its current source and magnet on "another PC"."""
    data = yaml.safe_load((REPO / "configs/stations/lab-emulated.yaml").read_text())
    hardware = data["emulated"]["hardware"]
    for role, block in hardware.items():
        if "address" in block:
            block["address"] = f"TCPIP::127.0.0.1::{_free_port()}::SOCKET"
    for role in REMOTE_ROLES:
        hardware[role]["remote"] = {"coordinator": f"127.0.0.1:{coordinator_port}", "actor": f"test_{role}"}
        hardware[role]["timeout"] = "1 s"  # a dead Actor is found out in seconds
    path = tmp_path / "remote.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Lab:
    """A Coordinator and one `sqm actor` per remote role, as child processes."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.station = _remote_station(tmp_path, self.port)
        self.coordinator = subprocess.Popen(
            [sys.executable, "-m", "pyleco.coordinators.coordinator", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.actors: dict[str, subprocess.Popen] = {}
        for role in REMOTE_ROLES:
            self.actors[role] = subprocess.Popen(
                [sys.executable, "-m", "sqm.cli", "actor", "--station", str(self.station), "--instrument", role],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for role, actor in self.actors.items():
            line = actor.stderr.readline()
            assert f"actor test_{role} hosts {role}" in line, line
        time.sleep(1.0)  # their sign-in at the Coordinator

    def close(self) -> None:
        for child in [*self.actors.values(), self.coordinator]:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in [*self.actors.values(), self.coordinator]:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    yield lab
    lab.close()


def _run(station: Path, procedure: str, tmp_path: Path, **popen) -> subprocess.Popen:
    path = tmp_path / "loop.yaml"
    path.write_text(procedure)
    return subprocess.Popen([sys.executable, "-m", "sqm.cli", "run", str(path), "--station", str(station),
                             "--out", str(tmp_path / "out")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def test_the_bias_loop_through_two_remote_instruments_is_the_twins(lab, tmp_path):
    child = _run(lab.station, FIG3, tmp_path)
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-3000:]
    path = Path(out.strip())
    with h5py.File(path, "r") as h5:
        snapshot = h5["003_bias_sweep/snapshot"]
        for role in REMOTE_ROLES:  # the file says which instruments were on another PC
            assert snapshot[role].attrs["reached_via"] == (
                f"LECO actor test_{role} via the Coordinator at 127.0.0.1:{lab.port}")
        assert "reached_via" not in snapshot["squid"].attrs
    sweep = find_step(read_steps(path), "bias_sweep")
    twin_path = tmp_path / "twin.yaml"
    twin_path.write_text(FIG3)
    assert main(["run", str(twin_path), "--out", str(tmp_path / "twin")]) == 0
    twin = find_step(read_steps(next((tmp_path / "twin").glob("*.h5"))), "bias_sweep")
    np.testing.assert_allclose(sweep.data["bias_current"], twin.data["bias_current"], atol=1e-12)
    difference = sweep.data["flux"] - twin.data["flux"]
    assert np.sqrt(np.mean(difference ** 2)) < 3e-6, np.sqrt(np.mean(difference ** 2))  # the same loop, noise apart


def test_killing_an_actor_mid_sweep_stops_the_run_with_the_reason_in_the_file(lab, tmp_path):
    child = _run(lab.station, FIG3, tmp_path)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        files = list((tmp_path / "out").glob("*.h5"))
        try:
            if files:
                with h5py.File(files[0], "r", swmr=True) as h5:
                    if "003_bias_sweep/data/flux" in h5 and h5["003_bias_sweep/data/flux"].shape[0] > 20:
                        break
        except (OSError, KeyError, RuntimeError):
            pass
        assert child.poll() is None, child.stderr.read()[-3000:]
        time.sleep(0.05)
    os.kill(lab.actors["current_source"].pid, signal.SIGKILL)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 1, err[-3000:]  # failed: an instrument fault
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "failed"
        error = h5["003_bias_sweep"].attrs["error"]
        assert "LECO actor test_current_source" in error and "did not answer" in error, error
        # the rest of the station is safe; the unreachable source is said to be not confirmed
        safe_state = h5.attrs["safe_state"]
        assert "current_source" in safe_state and "magnet" not in safe_state, safe_state


def test_an_unreachable_coordinator_is_one_line_and_nothing_starts(tmp_path, capsys):
    station = _remote_station(tmp_path, _free_port())  # nobody listens there
    procedure = tmp_path / "loop.yaml"
    procedure.write_text(FIG3)
    assert main(["run", str(procedure), "--station", str(station), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "no LECO Coordinator answers at 127.0.0.1:" in error, error
    assert not list((tmp_path / "out").glob("*.h5"))


def test_a_remote_block_on_a_daq_role_is_refused_in_one_line(tmp_path, capsys):
    data = yaml.safe_load((REPO / "configs/stations/lab-emulated.yaml").read_text())
    data["emulated"]["hardware"]["scanner"]["remote"] = {"coordinator": "127.0.0.1:12300", "actor": "x"}
    station = tmp_path / "daq_remote.yaml"
    station.write_text(yaml.safe_dump(data, sort_keys=False))
    procedure = tmp_path / "loop.yaml"
    procedure.write_text(FIG3)
    assert main(["check", str(procedure), "--station", str(station)]) == 2
    error = capsys.readouterr().err
    assert "hardware.scanner.remote: the nidaq_scanner is not reached through VISA" in error, error
