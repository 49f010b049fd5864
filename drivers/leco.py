"""Instruments attached to another lab PC, reached through PyLECO (the LECO protocol that
pymeasure's ecosystem uses: a Coordinator routes messages between named Actors).

**Station side.** A role's block in the station file names where its instrument is:

    current_source:
      driver: keithley6221
      address: "GPIB0::12::INSTR"      # as the other PC reaches it
      remote: {coordinator: "127.0.0.1:12300", actor: current_source}

The adapter then builds its pymeasure driver exactly as for a local instrument, on a
`LecoAdapter` instead of a VISA adapter: every message the driver writes and every reply
it reads goes through the Coordinator to the Actor, which holds the VISA resource on its
PC. So the role adapter, the pymeasure driver and every safety check (limits before any
command, ramps from the measured value, the instrument's own range) run on the station's
PC as for a local instrument; only the bytes travel. A driver that works locally works
remotely, without a proxy per driver, and the other PC cannot bypass a check.

**Actor side.** `sqm actor --station FILE --instrument ROLE` (`ResourceHost`, `host_role`)
opens that role's `address` through the station's VISA library and answers, as the Actor
named by `remote.actor`, for that one resource: it opens nothing else.

**Faults.** A Coordinator or Actor that does not answer within the role's timeout is an
instrument fault, like a timeout on a local bus: the exchange raises, the adapter's
guard turns it into an InstrumentError naming the role, the run stops and the safe
state is retried. A Coordinator that does not answer when the station is built is a
station-file problem: one line, nothing started.
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sqm.errors import InstrumentError, UserInputError

logger = logging.getLogger(__name__)

DEFAULT_COORDINATOR = "127.0.0.1:12300"  # loopback unless the station file says otherwise
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class RemoteSpec:
    """Where a role's instrument is reached: a LECO Coordinator (host, port) and an Actor name."""

    host: str
    port: int
    actor: str

    @classmethod
    def from_block(cls, block: Any, where: str) -> "RemoteSpec":
        """From a role's `remote:` block ({coordinator: HOST:PORT, actor: NAME}); one-line errors."""
        if not isinstance(block, dict):
            raise UserInputError(f"{where}: must be a mapping {{coordinator: HOST:PORT, actor: NAME}}, got {block!r}")
        unknown = set(block) - {"coordinator", "actor"}
        if unknown:
            raise UserInputError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: coordinator, actor)")
        actor = block.get("actor")
        if not (isinstance(actor, str) and actor.strip()):
            raise UserInputError(f"{where}.actor: the Actor's name, such as 'current_source' (or 'NODE.name' for "
                                 f"an Actor signed in at another Coordinator), got {actor!r}")
        coordinator = str(block.get("coordinator", DEFAULT_COORDINATOR))
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserInputError(f"{where}.coordinator: HOST:PORT such as {DEFAULT_COORDINATOR}, got {coordinator!r}")
        return cls(host.strip("[]"), int(port), actor.strip())

    @property
    def coordinator(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        return f"LECO actor {self.actor} via the Coordinator at {self.coordinator}"


def _director(spec: RemoteSpec, timeout_s: float, purpose: str):
    """A signed-in PyLECO Director towards the Actor; UserInputError if no Coordinator answers."""
    try:
        from pyleco.directors.director import Director
    except ImportError:
        raise UserInputError("a remote role needs PyLECO: pip install -e '.[remote]'") from None
    try:
        return Director(actor=spec.actor, name=f"sqm-{purpose}-{uuid.uuid4().hex[:8]}", host=spec.host,
                        port=spec.port, timeout=timeout_s)
    except (TimeoutError, ConnectionError, OSError) as error:
        raise UserInputError(f"remote.coordinator: no LECO Coordinator answers at {spec.coordinator} "
                             f"({type(error).__name__}: {error}); start it, or check the address") from None


def _make_adapter_class():
    """LecoAdapter, defined once pymeasure is imported (the hardware extra)."""
    from pymeasure.adapters import Adapter

    class LecoAdapter(Adapter):
        """A pymeasure adapter whose resource is on another PC, held by an `sqm actor`."""

        def __init__(self, spec: RemoteSpec, address: str, timeout_s: float, **settings: Any) -> None:
            super().__init__()
            self.spec = spec
            self.address = address
            self._lock = threading.Lock()  # one exchange at a time, as on a bus
            self._director = _director(spec, timeout_s, "station")
            self.connection = _Described(f"{address} via {spec.describe()}")
            try:
                self._call("open", address, settings)
            except InstrumentError:
                self.close()
                raise

        def _call(self, action: str, *args: Any) -> Any:
            with self._lock:
                try:
                    return self._director.call_action(action, *args)
                except TimeoutError:
                    raise InstrumentError(f"{self.spec.describe()} did not answer ({action}): the Actor or the "
                                          "Coordinator is gone or stuck") from None
                except Exception as error:  # the Actor's own error (the instrument's timeout, a bad reply)
                    raise InstrumentError(f"{self.spec.describe()}: {action}: {type(error).__name__}: "
                                          f"{error}") from None

        def _write(self, command: str, **kwargs: Any) -> None:
            self._call("write", command)

        def _read(self, **kwargs: Any) -> str:
            return str(self._call("read"))

        def flush_read_buffer(self) -> None:
            self._call("flush_read_buffer")

        def close(self) -> None:
            try:
                with self._lock:
                    self._director.call_action("close")
            except Exception:  # closing is best effort
                pass
            try:
                self._director.close()
            except Exception:
                pass

    return LecoAdapter


class _Described:
    """Stands for the pyvisa resource in the wire log: its name says where it is."""

    def __init__(self, resource_name: str) -> None:
        self.resource_name = resource_name


_ADAPTER_CLASS = None


def leco_adapter(spec: RemoteSpec, address: str, timeout_s: float, **settings: Any):
    """A pymeasure adapter on `address` at the Actor of `spec` (the VISA settings travel to it)."""
    global _ADAPTER_CLASS
    if _ADAPTER_CLASS is None:
        _ADAPTER_CLASS = _make_adapter_class()
    return _ADAPTER_CLASS(spec, address, timeout_s, **settings)


class ResourceHost:
    """What `sqm actor` hosts: one VISA resource, the role's `address`, opened through the
    station's VISA library with the settings the station's driver asks for."""

    def __init__(self, visa_library: str, address: str) -> None:
        self.visa_library = visa_library
        self.address = address
        self._adapter = None

    def open(self, address: str, settings: dict) -> str:
        if address != self.address:
            raise ValueError(f"this Actor hosts {self.address} only, not {address}")
        from pymeasure.adapters import VISAAdapter

        self.close()
        self._adapter = VISAAdapter(self.address, visa_library=self.visa_library, **settings)
        return self.address

    def _open_adapter(self):
        if self._adapter is None:
            raise ValueError("not open: the station opens the resource first")
        return self._adapter

    def write(self, command: str) -> None:
        self._open_adapter().write(command)

    def read(self) -> str:
        return self._open_adapter().read()

    def flush_read_buffer(self) -> None:
        self._open_adapter().flush_read_buffer()

    def close(self) -> None:
        if self._adapter is not None:
            adapter, self._adapter = self._adapter, None
            adapter.close()


def role_block(station_path: str, role: str) -> tuple[dict, str]:
    """A role's block in a hardware (or emulated) station file, and the VISA library its
    resources are opened through; UserInputError (one line) otherwise."""
    from sqm.station import read_text_file

    from .backend import _visa_library

    text = read_text_file(station_path, "station file")
    try:
        import yaml

        data = yaml.safe_load(text)
    except Exception as error:
        raise UserInputError(f"{station_path}: not YAML ({' '.join(str(error).split())})") from None
    backend = data.get("backend") if isinstance(data, dict) else None
    if backend == "hardware":
        hardware, where = data.get("hardware") or {}, "hardware"
    elif backend == "emulated":
        hardware, where = (data.get("emulated") or {}).get("hardware") or {}, "emulated.hardware"
        hardware = {**hardware, "visa_library": "@py"}  # the emulators listen on loopback TCP
    else:
        raise UserInputError(f"{station_path}: an actor hosts an instrument of a hardware or emulated station, "
                             f"not of backend {backend!r}")
    block = hardware.get(role)
    if not isinstance(block, dict):
        raise UserInputError(f"{station_path}: {where} has no role {role!r} "
                             f"(it has {', '.join(key for key in hardware if key not in ('visa_library', 'clock'))})")
    if "remote" not in block:
        raise UserInputError(f"{station_path}: {where}.{role} has no remote: block; name its Coordinator and Actor "
                             "there (remote: {coordinator: 127.0.0.1:12300, actor: NAME})")
    if "address" not in block:
        raise UserInputError(f"{station_path}: {where}.{role}: no address to open")
    return block, _visa_library(str(hardware.get("visa_library", "")))


def host_role(station_path: str, role: str, stop: threading.Event | None = None,
              ready: threading.Event | None = None) -> int:
    """`sqm actor`: host one role's resource as the Actor its `remote:` block names, until
    `stop` is set (Ctrl-C or SIGTERM in the command). Returns the exit status."""
    block, visa_library = role_block(station_path, role)
    spec = RemoteSpec.from_block(block["remote"], f"{role}.remote")
    try:
        from pyleco.actors.actor import Actor
    except ImportError:
        raise UserInputError("sqm actor needs PyLECO: pip install -e '.[remote]'") from None
    stop = stop or threading.Event()
    # signs in under its own name; "NODE.name" is how a station behind another Coordinator names it
    actor = Actor(spec.actor.rsplit(".", 1)[-1], device_class=ResourceHost, host=spec.host, port=spec.port)
    actor.device = ResourceHost(visa_library, str(block["address"]))
    print(f"sqm: actor {spec.actor} hosts {role} ({block.get('driver')} at {block['address']}) via the "
          f"Coordinator at {spec.coordinator}; Ctrl-C stops it", file=sys.stderr, flush=True)
    if ready is not None:
        ready.set()
    try:
        actor.listen(stop_event=stop)
    finally:
        actor.device.close()
    return 0


def actor_main(station: str, instrument: str) -> int:
    """The `sqm actor` command: Ctrl-C, SIGTERM or SIGHUP stop it (exit 0)."""
    import signal

    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)):
        signal.signal(number, lambda *_: stop.set())
    return host_role(station, instrument, stop)
