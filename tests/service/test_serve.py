"""`sqm serve DIR`: a folder of run files read back through Tiled's client, as a user would.

The servers run in child processes (`python -m sqm.cli serve ...`, the command a user
types) on a free loopback port; their output goes to files, which the tests read for
the URL. Refusals (exit 2, one line) are checked in this process: they happen before Tiled
is loaded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from sqm.session import run_procedure
from sqm.station import DEFAULT_STATION
from sqm.store import RunStore

pytest.importorskip("tiled.client")
pytest.importorskip("tiled.server")

import httpx  # noqa: E402  (Tiled's HTTP library: installed with it)
from tiled.client import from_uri  # noqa: E402
from tiled.client.utils import ClientError  # noqa: E402

from sqm.service.run_folder import LOCKED_BY_WRITER, UNAVAILABLE_KEY, run_folder_tree  # noqa: E402
from sqm.service.serve import is_loopback, main  # noqa: E402

from ..cli.error_lines import one_error_line  # noqa: E402

SWEEP_PROCEDURE = """steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - park: {x: 30 um, y: -15 um, height: 1 um}
  - bias_sweep: {points: [0, 60 uA, 0], step: 5 uA, integration_time: 0.2 s}
"""
STARTUP_SECONDS = 60  # importing Tiled takes seconds; a loaded CI machine more
STOP_SECONDS = 5  # "exits within a few seconds" of SIGTERM
GIVEN_KEY = "labkey0123456789"
CONNECT = re.compile(r'from_uri\("([^"]+)"')


class Server:
    """`sqm serve` in a child process, its output in files."""

    def __init__(self, folder: Path, logs: Path, *arguments: str) -> None:
        self.stdout_path, self.stderr_path = logs / "serve.out", logs / "serve.err"
        environment = {key: value for key, value in os.environ.items() if key != "TILED_SINGLE_USER_API_KEY"}
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sqm.cli", "serve", str(folder), "--port", "0", *arguments],
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=environment)
        self.connect_url = self._wait_until_it_answers()
        self.api_url = self.connect_url.split("?")[0]

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def _wait_until_it_answers(self) -> str:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server ended ({self.process.returncode}):\n{self.output()}"
            found = CONNECT.search(self.stdout_path.read_text())
            if found:
                try:
                    # trust_env=False: a proxy set in the environment must not stand between us and loopback
                    health = found.group(1).split("/api/")[0] + "/healthz"
                    if httpx.get(health, timeout=1, trust_env=False).status_code == 200:
                        return found.group(1)
                except httpx.TransportError:  # printed before it listens: not yet
                    pass
            time.sleep(0.1)
        self.process.kill()
        raise AssertionError(f"the server did not answer within {STARTUP_SECONDS} s:\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM; the exit status, which must come within STOP_SECONDS."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"still running {STOP_SECONDS} s after SIGTERM:\n{self.output()}") from None


def _finished_run(folder: Path, tmp: Path) -> Path:
    procedure = tmp / "sweep.yaml"
    procedure.write_text(SWEEP_PROCEDURE)
    result = run_procedure(procedure, DEFAULT_STATION, folder)
    assert result.outcome.status == "completed", result.outcome.error
    return result.path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server with a generated key (loopback, no --api-key) over a folder holding one
    finished run; yields (server, run file), and checks SIGTERM ends it with status 0."""
    tmp = tmp_path_factory.mktemp("serve")
    folder = tmp / "runs"
    run_file = _finished_run(folder, tmp)
    server = Server(folder, tmp)
    yield server, run_file
    assert server.stop() == 0, server.output()


def test_a_finished_runs_arrays_read_through_tiled_equal_h5pys_reading(served):
    server, run_file = served
    runs = from_uri(server.connect_url)  # the printed URL carries the generated key
    assert list(runs) == [run_file.stem]
    run = runs[run_file.stem]
    assert run.metadata["status"] == "completed"
    assert list(run) == ["001_zero_field_cool", "002_park", "003_bias_sweep"]
    sweep = run["003_bias_sweep"]["data"]
    with h5py.File(run_file, "r") as h5:
        for name in ("flux", "bias_current"):
            expected = h5["003_bias_sweep/data"][name][()]
            served_array = sweep[name].read()
            assert served_array.dtype == expected.dtype and np.array_equal(served_array, expected)
        assert sweep["flux"].metadata["units"] == h5["003_bias_sweep/data/flux"].attrs["units"] == "Phi0"
    assert len(expected) == 25  # 0 -> 60 uA -> 0 in 5 uA steps


def test_the_generated_key_is_required(served):
    server, _ = served
    with pytest.raises(ClientError) as refused:
        from_uri(server.api_url, api_key="not0the0key")
    assert refused.value.response.status_code == 401
    assert httpx.get(f"{server.api_url}/metadata/", timeout=5, trust_env=False).status_code == 401  # no key


def test_a_run_being_written_is_served_as_it_grows_and_whole_once_it_ends(served):
    server, run_file = served
    being_written = run_file.parent / "zz_being_written.h5"
    store = RunStore(being_written, backend="sim", station_text="station", procedure_text="procedure",
                     flush_interval=0.0)
    try:  # the writer holds the file open, in SWMR mode, as during a run
        step = store.begin_step(1, "bias_sweep", {}, {})
        step.declare_series({"bias_current": "A", "flux": "Phi0"}, "flux", ["bias_current"])
        for index in range(5):
            step.append(bias_current=index * 1e-6, flux=0.1 * index)
        runs = from_uri(server.connect_url)
        assert list(runs) == [run_file.stem, "zz_being_written"]
        live = runs["zz_being_written"]
        assert live.metadata["status"] == "running" and UNAVAILABLE_KEY not in live.metadata
        np.testing.assert_allclose(live["001_bias_sweep"]["data"]["flux"].read(), 0.1 * np.arange(5))
        for index in range(5, 12):
            step.append(bias_current=index * 1e-6, flux=0.1 * index)
        grown = from_uri(server.connect_url)["zz_being_written"]["001_bias_sweep"]["data"]["flux"].read()
        np.testing.assert_allclose(grown, 0.1 * np.arange(12))  # asked again: the points flushed since
        assert len(runs[run_file.stem]["003_bias_sweep"]["data"]["flux"].read()) == 25  # the others still served
        step.finish("completed")
    finally:
        store.set_run_status("completed")
        store.close()
    ended = from_uri(server.connect_url)["zz_being_written"]
    assert ended.metadata["status"] == "completed" and UNAVAILABLE_KEY not in ended.metadata
    being_written.unlink()  # the module's server is shared: leave its folder as it was


def test_with_a_key_given_a_wrong_key_is_refused_and_sigterm_stops_it_with_status_0(tmp_path):
    folder = tmp_path / "runs"
    run_file = _finished_run(folder, tmp_path)
    server = Server(folder, tmp_path, "--api-key", GIVEN_KEY)
    try:
        assert GIVEN_KEY not in server.output()  # a key the user gave is not printed back
        with pytest.raises(ClientError) as refused:
            from_uri(server.api_url, api_key="wrong0key")
        assert refused.value.response.status_code == 401
        assert list(from_uri(server.api_url, api_key=GIVEN_KEY)) == [run_file.stem]
    finally:
        status = server.stop()
    assert status == 0, server.output()
    assert "Traceback" not in server.output()


def test_a_missing_folder_is_refused_in_one_line(tmp_path, capsys):
    assert main(tmp_path / "nowhere") == 2
    assert one_error_line(capsys) == f"sqm: error: serve: {tmp_path / 'nowhere'}: no such folder"


def test_a_file_given_for_the_folder_is_refused_in_one_line(tmp_path, capsys):
    run_file = tmp_path / "run.h5"
    run_file.write_bytes(b"")
    assert main(run_file) == 2
    assert one_error_line(capsys).startswith(f"sqm: error: serve: {run_file}: not a folder")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "lab-pc.example.org"])
def test_another_address_without_a_key_is_refused_in_one_line(tmp_path, capsys, monkeypatch, host):
    monkeypatch.delenv("TILED_SINGLE_USER_API_KEY", raising=False)
    assert main(tmp_path, host=host) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"sqm: error: serve: --host {host} is reachable from other machines: give an API key")


def test_a_key_tiled_would_refuse_is_refused_in_one_line(tmp_path, capsys):
    assert main(tmp_path, api_key="not a key!") == 2
    assert "letters and digits only" in one_error_line(capsys)


def test_a_taken_port_is_refused_in_one_line(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(tmp_path, port=port) == 2
    assert one_error_line(capsys) == (f"sqm: error: serve: port {port} on 127.0.0.1 is taken "
                                      "(--port another, or 0 for any free one)")


def test_a_bad_argument_to_the_command_line_is_one_line(tmp_path):
    refused = subprocess.run([sys.executable, "-m", "sqm.cli", "serve", str(tmp_path), "--port", "eighty"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "sqm: error: serve: argument --port: invalid int value: 'eighty' (see sqm serve --help)"]


def test_the_tree_holds_run_files_and_subfolders_and_says_why_a_file_is_unreadable(tmp_path):
    with h5py.File(tmp_path / "20260101-120000_sweep.h5", "w") as h5:
        h5.attrs["status"] = "completed"
        h5.create_dataset("001_bias_sweep/data/flux", data=[0.5, 0.25])
    (tmp_path / "damaged.h5").write_bytes(b"not an HDF5 file")
    (tmp_path / "figure.png").write_bytes(b"")  # not a run file: not listed
    (tmp_path / "cooldown-14").mkdir()
    with h5py.File(tmp_path / "cooldown-14" / "twin.h5", "w"), h5py.File(tmp_path / "cooldown-14" / "twin.nxs", "w"):
        pass  # two files that differ in their suffix only keep their whole names
    tree = run_folder_tree(tmp_path)
    assert list(tree) == ["20260101-120000_sweep", "damaged", "cooldown-14"]
    assert tree["20260101-120000_sweep"].metadata()["status"] == "completed"
    assert list(tree["20260101-120000_sweep"]["001_bias_sweep"]["data"]["flux"].read()) == [0.5, 0.25]
    assert tree["damaged"].metadata()[UNAVAILABLE_KEY].startswith("cannot be opened: ")
    assert list(tree["cooldown-14"]) == ["twin.h5", "twin.nxs"]
    (tmp_path / "damaged.h5").unlink()  # listed anew at every access: no restart
    assert list(tree) == ["20260101-120000_sweep", "cooldown-14"]


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("lab-pc", False),
])
def test_which_hosts_count_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_file_held_by_a_writer_not_in_swmr_mode_is_listed_as_unavailable(tmp_path):
    held = tmp_path / "held.h5"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import h5py, sys, time
h5 = h5py.File({str(held)!r}, "w")  # another program's writer: HDF5's lock, no SWMR
h5["x"] = [1.0, 2.0]
h5.flush()
print("holding", flush=True)
sys.stdin.read()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        node = run_folder_tree(tmp_path)["held"]
        assert node.metadata()[UNAVAILABLE_KEY] == LOCKED_BY_WRITER
    finally:
        holder.communicate("", timeout=30)
