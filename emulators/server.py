"""One emulated instrument on a TCP port of 127.0.0.1, as a driver's VISA socket sees it.

`InstrumentEmulator` is the instrument: it turns each message (its terminator removed)
into reply lines from the shared world. `EmulatorServer` is its wire: it accepts
connections (one thread each), cuts the byte stream into messages at the instrument's
read termination, writes the reply lines with its write termination, and plays the
faults of its plan (sqm.emulators.faults): swallowing messages, garbling a reply,
dropping the connection and refusing new ones for a while.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from abc import ABC, abstractmethod
from typing import Sequence

from sqm.errors import UserInputError

from .faults import INSTRUMENT_FAULTS, Fault, FaultPlan
from .link import WorldLink

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
GARBLED = "\x15#\x7f?!"  # what a garbled reply reads: no number, no known word
_POLL_S = 0.05  # how often a waiting socket looks at the stop flag (wall s)


def _acknowledge_at_once(connection: socket.socket) -> None:
    """Acknowledge what arrived now, not after the kernel's delayed-ACK wait (40 ms on
    Linux): pyvisa-py writes without TCP_NODELAY, so a driver's query right after a
    command waits for that acknowledgement, 40 ms per exchange. Linux only, and to be set
    again after every read."""
    quick_ack = getattr(socket, "TCP_QUICKACK", None)
    if quick_ack is not None:
        connection.setsockopt(socket.IPPROTO_TCP, quick_ack, 1)


class InstrumentEmulator(ABC):
    """An instrument's protocol over the shared world (`link`). Subclasses give the
    terminations, `handle` and, for faults in the instrument, `start_fault`/`end_fault`
    with the kinds they support in `instrument_faults`.

    `block` is the driver's station-file block: the emulator answers with the
    calibrations the driver will use (e.g. the flux per volt of a readout), so the
    numbers the driver computes are the world's.
    """

    read_termination = "\n"  # ends each message from the driver
    write_termination = "\n"  # ends each reply line
    instrument_faults: tuple[str, ...] = ()

    def __init__(self, block: dict, link: WorldLink) -> None:
        self.block = block
        self.link = link

    def connected(self) -> Sequence[str]:
        """A new connection: reset any session state; the lines the instrument greets with."""
        return ()

    @abstractmethod
    def handle(self, message: str) -> Sequence[str]:
        """The reply lines to one message (none for a command that is not a query)."""

    def start_fault(self, kind: str) -> None:
        """A fault of the instrument begins (or, for one that happens once, happens)."""
        raise UserInputError(f"{type(self).__name__} cannot play the fault {kind!r}")

    def end_fault(self, kind: str) -> None:
        """A lasting fault of the instrument ends."""


class EmulatorServer:
    """`emulator` on 127.0.0.1:`port` (0: a free port, chosen when started)."""

    def __init__(self, name: str, emulator: InstrumentEmulator, port: int = 0) -> None:
        self.name = name
        self.emulator = emulator
        self.port = port
        self.faults = FaultPlan()
        self.messages = 0  # messages received, for the wire-traffic benchmark
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()  # one message at a time: the instrument is one device
        self._garble_next = False
        self._dropped = False

    @property
    def address(self) -> str:
        """The VISA address the driver opens (pyvisa-py's TCP socket)."""
        return f"TCPIP::{HOST}::{self.port}::SOCKET"

    def start(self) -> None:
        """Listen (UserInputError naming the port when it is taken) and accept in the background."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((HOST, self.port))
        except OSError as error:
            listener.close()
            if error.errno == errno.EADDRINUSE:
                raise UserInputError(f"{self.name}: port {self.port} of {HOST} is taken (another emulator or "
                                     "program listens there); choose another port, or 0 for any free one") from None
            raise UserInputError(f"{self.name}: cannot listen on {HOST}:{self.port}: {error}") from None
        listener.listen(4)
        listener.settimeout(_POLL_S)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop, f"emulator {self.name} accept")

    def stop(self) -> None:
        self._stopping.set()
        self._close_connections()
        for thread in self._threads:
            thread.join(timeout=2.0)
        if self._listener is not None:
            self._listener.close()

    # Faults ---------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        if fault.kind in INSTRUMENT_FAULTS and fault.kind not in self.emulator.instrument_faults:
            raise UserInputError(f"{self.name}: its emulator cannot play {fault.kind!r} (it plays: "
                                 f"{', '.join(self.emulator.instrument_faults) or 'wire faults only'})")
        with self._lock:
            self.faults.add(fault)

    def apply_due_faults(self) -> None:
        """Start and end the faults due at the present lab time (called before each message
        and by the station's ticker, so a quench happens on time even in silence)."""
        with self._lock:
            self._apply_due_faults_locked()

    def _apply_due_faults_locked(self) -> None:
        started, ended = self.faults.update(self.emulator.link.clock.now())
        for fault in started:
            logger.info("%s: fault %s begins", self.name, fault.kind)
            if fault.kind == "garbage":
                self._garble_next = True
            elif fault.kind in INSTRUMENT_FAULTS:
                self.emulator.start_fault(fault.kind)
        for fault in ended:
            logger.info("%s: fault %s ends", self.name, fault.kind)
            if fault.kind in INSTRUMENT_FAULTS:
                self.emulator.end_fault(fault.kind)
        dropped = self.faults.active("drop")
        if dropped and not self._dropped:
            self._close_connections()
        self._dropped = dropped

    # The wire ---------------------------------------------------------------------------
    def _spawn(self, target, name: str, *arguments) -> None:
        thread = threading.Thread(target=target, args=arguments, name=name, daemon=True)
        self._threads = [known for known in self._threads if known.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self._lock:
                self._apply_due_faults_locked()
                refused = self._dropped
                if not refused:
                    self._connections.append(connection)
            if refused:  # a dropped instrument: the connection opens and closes at once
                connection.close()
                continue
            self._spawn(self._serve, f"emulator {self.name} connection", connection)

    def _serve(self, connection: socket.socket) -> None:
        emulator = self.emulator
        terminator = emulator.read_termination.encode()
        connection.settimeout(_POLL_S)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        try:
            with self._lock:
                greeting = list(emulator.connected())
            self._send(connection, greeting)
            while not self._stopping.is_set():
                try:
                    chunk = connection.recv(4096)
                except (TimeoutError, socket.timeout):
                    continue
                if not chunk:
                    return
                _acknowledge_at_once(connection)
                buffer += chunk
                while terminator in buffer:
                    raw, buffer = buffer.split(terminator, 1)
                    reply = self._answer(raw.decode(errors="replace").strip())
                    if reply is None:  # dropped while answering
                        return
                    self._send(connection, reply)
        except OSError:  # the driver went away, or the connection was dropped
            return
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
            connection.close()

    def _answer(self, message: str) -> list[str] | None:
        """The reply lines to `message` under the faults now in force (None: the connection is dropped)."""
        with self._lock:
            self._apply_due_faults_locked()
            self.messages += 1
            if self._dropped:
                return None
            if self.faults.active("no_reply") or not message:
                return []
            reply = list(self.emulator.handle(message))
            if reply and self._garble_next:  # the first line garbled, the rest (an "OK") as sent
                self._garble_next = False
                reply[0] = GARBLED
            return reply

    def _send(self, connection: socket.socket, lines: list[str]) -> None:
        if lines:
            ending = self.emulator.write_termination
            connection.sendall("".join(line + ending for line in lines).encode())

    def _close_connections(self) -> None:
        for connection in list(self._connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        self._connections.clear()
