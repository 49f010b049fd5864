"""`sqm emulate [--station FILE]`: an emulated station's instruments alone, on their ports,
until Ctrl-C (or SIGTERM/SIGHUP): for trying a driver by hand, or another program."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from sqm.errors import UserInputError
from sqm.station import parse_yaml, read_station_limits, read_text_file

from .backend import start_emulators

DEFAULT_EMULATED_STATION = Path(__file__).resolve().parent.parent / "configs" / "stations" / "lab-emulated.yaml"


def main(station_path: str | Path | None = None, ready: threading.Event | None = None,
         stop: threading.Event | None = None) -> int:
    """Start the emulators of `station_path` (an `emulated` station), print where each
    listens, and serve until stopped; 2 with one line for a bad file or a port taken.
    `ready` is set once they listen, `stop` (or a stop signal) ends them (for tests)."""
    path = Path(station_path) if station_path is not None else DEFAULT_EMULATED_STATION
    try:
        _, limits = read_station_limits(path)  # the whole file checked, nothing started
        data = parse_yaml(read_text_file(path, "station file"), str(path))
        if data.get("backend") != "emulated":
            raise UserInputError(f"{path}: backend is {data.get('backend')!r}; `sqm emulate` needs an emulated "
                                 "station (backend: emulated, e.g. configs/stations/lab-emulated.yaml)")
        emulators, hardware, clock = start_emulators(data["emulated"], limits)
    except UserInputError as error:
        message = str(error)
        print(f"sqm: error: {message if message.startswith(str(path)) else f'{path}: {message}'}", file=sys.stderr)
        return 2
    stop = stop or threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in _stop_signals()}
    try:
        print(f"emulating '{path.name}' at {clock.speed:g} lab s per wall s (Ctrl-C stops):")
        for role, server in emulators.servers.items():
            print(f"  {role:15s} {hardware[role]['driver']:16s} {server.address}")
        for role, driver in emulators.daq_roles.items():  # no wire: the card stands in for nidaqmx
            print(f"  {role:15s} {driver:16s} (the emulated NI-DAQ card: only inside a station built on it)")
        sys.stdout.flush()
        if ready is not None:
            ready.set()
        while not stop.wait(0.2):
            pass
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        emulators.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stop_signals() -> list[int]:
    if threading.current_thread() is not threading.main_thread():
        return []  # signals can only be handled on the main thread (a test's thread has none)
    return [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
