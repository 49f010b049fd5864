"""`sqm serve DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY]`: a folder of run files
over HTTP with Tiled, read-only, until Ctrl-C (or SIGTERM/SIGHUP); exit status 0.

Who may read: every request needs the API key (Tiled's single-user mode). On loopback
without `--api-key` a random key is generated and printed in the URL to connect to, so
another user of the same machine cannot read the runs. On any other address a key must be
given (`--api-key`, or the environment variable TILED_SINGLE_USER_API_KEY, which keeps it
out of the process list); without one the command refuses to start. Nothing can be
written: the tree served (service.run_folder) has no way to accept data.

Errors of the user (no such folder, another address without a key, a key Tiled refuses,
a port taken) are one line, `sqm: error: ...`, and exit status 2, before Tiled is loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import os
import secrets
import signal
import socket
import sys
import warnings
from pathlib import Path
from typing import NoReturn

from sqm.errors import UserInputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
API_KEY_VARIABLE = "TILED_SINGLE_USER_API_KEY"  # Tiled's own name for the single-user key
GENERATED_KEY_BYTES = 16  # 32 hex digits: printed for the one user of a loopback server
GRACEFUL_SHUTDOWN_SECONDS = 2.0  # open requests may finish; then the server stops anyway
EXIT_OK, EXIT_USAGE = 0, 2


def main(directory: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
         api_key: str | None = None) -> int:
    """Serve the run files of `directory` on `host`:`port` (0: any free port) until a
    stop signal; 0 then. 2 with one line on stderr for a user error (see the module)."""
    try:
        folder = _existing_folder(directory)
        api_key, generated = _api_key(host, api_key)
        listener = _listening_socket(host, port)
    except UserInputError as error:
        print(f"sqm: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    with listener:
        try:
            server = _tiled_server(folder, api_key)
        except ImportError as error:  # the serve extra is not installed
            print(f"sqm: error: serve needs Tiled ({error}): pip install -e '.[serve]'", file=sys.stderr)
            return EXIT_USAGE
        _print_how_to_connect(folder, host, listener.getsockname()[1], api_key if generated else None)
        server.run(sockets=[listener])
    return EXIT_OK


def _existing_folder(directory: str | Path) -> Path:
    folder = Path(directory).expanduser()
    if not folder.exists():
        raise UserInputError(f"serve: {directory}: no such folder")
    if not folder.is_dir():
        raise UserInputError(f"serve: {directory}: not a folder (serve the folder that holds the run files)")
    return folder.resolve()


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback addresses (127.0.0.0/8, ::1): reachable from this
    machine only. A name is not resolved: any other name counts as another address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _api_key(host: str, given: str | None) -> tuple[str, bool]:
    """(the key every request must carry, whether it was generated here)."""
    key = given if given is not None else os.environ.get(API_KEY_VARIABLE)
    if key is None:
        if not is_loopback(host):
            raise UserInputError(f"serve: --host {host} is reachable from other machines: give an API key "
                                 f"(--api-key KEY or {API_KEY_VARIABLE}); loopback (127.0.0.1) needs none")
        return secrets.token_hex(GENERATED_KEY_BYTES), True
    if not key.isascii() or not key.isalnum():  # Tiled's own rule: the key travels in URLs
        raise UserInputError("serve: the API key must be letters and digits only "
                             "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
    return key, False


def _listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, so a taken port or a foreign address is one line here
    rather than a traceback inside the server (which then listens on it)."""
    if not 0 <= port <= 65535:
        raise UserInputError(f"serve: --port {port}: not a port number (0-65535; 0: any free port)")
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise UserInputError(f"serve: --host {host}: not an address of this machine ({error.strerror})") from None
    listener = socket.socket(family, kind, protocol)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
        listener.bind(address)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise UserInputError(f"serve: port {port} on {host} is taken (--port another, or 0 for any free "
                                 "one)") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise UserInputError(f"serve: --host {host}: not an address of this machine") from None
        raise UserInputError(f"serve: cannot listen on {host}:{port}: {error.strerror}") from None
    listener.set_inheritable(True)
    return listener


def _tiled_server(folder: Path, api_key: str):
    """The uvicorn server of Tiled's app over the folder (imported here: Tiled takes seconds)."""
    import uvicorn
    from tiled.config import Authentication
    from tiled.server.app import build_app

    from .run_folder import run_folder_tree

    # A NeXus text field (an entry's title, start_time, each role's name) is a variable-length
    # string, which Tiled serves as bytes with a warning per field and per request: noise
    # for the operator, since the value is served whole.
    warnings.filterwarnings("ignore", message=r"The dataset .* is of object type", category=UserWarning)
    # allow_anonymous_access is given, not left unset, so a TILED_ALLOW_ANONYMOUS_ACCESS
    # in the environment cannot open the server to readers without the key
    app = build_app(run_folder_tree(folder),
                    authentication=Authentication(single_user_api_key=api_key, allow_anonymous_access=False))
    config = uvicorn.Config(app, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, log_level="info")

    class StopsOnSignals(uvicorn.Server):
        """Stops on SIGINT, SIGTERM and SIGHUP, and then returns: uvicorn's own handling would
        raise the signal again after the shutdown, killing the process (status -15, or a
        KeyboardInterrupt) where a stop asked for is a normal end (status 0)."""

        @contextlib.contextmanager
        def capture_signals(self):
            stop_signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
            previous = {number: signal.signal(number, self.handle_exit) for number in stop_signals}
            try:
                yield
            finally:
                for number, handler in previous.items():
                    signal.signal(number, handler)

    return StopsOnSignals(config)


def _print_how_to_connect(folder: Path, host: str, port: int, generated_key: str | None) -> None:
    if host in ("0.0.0.0", "::", "[::]"):  # every address of the machine: name it by its host name
        shown_host = socket.gethostname()
    else:
        shown_host = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/api/v1"
    if generated_key is not None:
        connect = f'from_uri("{url}?api_key={generated_key}")'
        who = "anyone given this URL (its API key was generated for this run of the server)"
    else:
        connect = f'from_uri("{url}", api_key=KEY)'
        who = "holders of the API key"
    print(f"serving the run files of {folder} (read-only) at {url}\n"
          f"  readable by {who}; from Python:\n"
          f"    from tiled.client import from_uri\n"
          f"    runs = {connect}\n"
          f"    runs[RUN][STEP]['data']['flux'].read()   # RUN: a file's name without .h5; list(runs) names them\n"
          f"  a run still being written is listed with metadata 'unavailable' until it ends\n"
          f"Ctrl-C stops.", flush=True)
    if not is_loopback(host):
        print("sqm: serve: plain HTTP: the key and the data cross the network unencrypted (a trusted network, "
              "or TLS in front)", file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, status 2, like every `sqm` command
        print(f"sqm: error: serve: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def command_line(argv: list[str] | None = None) -> int:
    """`python -m sqm.service.serve DIR [...]`: the same command without the `sqm` front end."""
    parser = _Parser(prog="sqm serve", description="A folder of run files over HTTP with Tiled, read-only, "
                     "until Ctrl-C.")
    parser.add_argument("directory", metavar="DIR", help="the folder of run files (.h5)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; another one needs --api-key)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0: any free port")
    parser.add_argument("--api-key", default=None,
                        help=f"the key readers give (letters and digits; default: ${API_KEY_VARIABLE}, "
                        "else generated and printed, on loopback only)")
    arguments = parser.parse_args(argv)
    return main(arguments.directory, host=arguments.host, port=arguments.port, api_key=arguments.api_key)


if __name__ == "__main__":
    sys.exit(command_line())
