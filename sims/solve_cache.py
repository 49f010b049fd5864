"""A disk cache of the twin's film solves, shared by processes, so the second run on a
sample starts without solving it again.

Entries are `.npz` files of plain arrays, named by a key that hashes everything the
solve depends on: the sample file's text, the grid, the temperature and a fingerprint
of the solver code (`code_fingerprint`), so a change of any of them makes a new entry
and an old one is never read for it. Writes are atomic (a temporary file, fsync,
rename), so a reader sees a whole entry or none; a damaged entry is a miss; a cache
that cannot be written (read-only, full disk) only costs the time of the solve.

Folder: $SQM_CACHE_DIR, else $XDG_CACHE_HOME/sqm/solves, else ~/.cache/sqm/solves.
SQM_CACHE=off turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

_FINGERPRINTS: dict[tuple[str, ...], str] = {}


def cache_directory() -> Path:
    """Where entries live (created on the first write)."""
    if os.environ.get("SQM_CACHE_DIR"):
        return Path(os.environ["SQM_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "sqm" / "solves"
    return Path.home() / ".cache" / "sqm" / "solves"


def code_fingerprint(*modules) -> str:
    """16 hex digits of the source of `modules`: entries made by other code are not read."""
    names = tuple(module.__name__ for module in modules)
    if names not in _FINGERPRINTS:
        digest = hashlib.sha256()
        for module in modules:
            digest.update(Path(module.__file__).read_bytes())
        _FINGERPRINTS[names] = digest.hexdigest()[:16]
    return _FINGERPRINTS[names]


def _canonical(value):
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return repr(value)  # every digit counts: 0.1 and 0.1000001 are different solves
    return value


def cache_key(**material) -> str:
    """sha256 (hex) of a canonical JSON of what a solve depends on."""
    text = json.dumps(_canonical(material), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SolveCache:
    """Arrays by key on disk; `get_or_compute` is what callers use."""

    def __init__(self, directory: Path | None = None, enabled: bool | None = None) -> None:
        self.directory = Path(directory) if directory is not None else cache_directory()
        self.enabled = (os.environ.get("SQM_CACHE", "").lower() != "off") if enabled is None else enabled

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under `key`, or None (a miss, a damaged entry or the cache off)."""
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            with np.load(path, allow_pickle=False) as entry:
                return {name: np.array(entry[name]) for name in entry.files}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
            # a damaged entry (a crash of another writer cannot make one, a disk fault can): solve again
            try:
                path.unlink()
            except OSError:
                pass
            return None

    def store(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Write the arrays under `key` atomically; a failure to write only warns."""
        if not self.enabled:
            return
        temporary = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{key[:16]}-", suffix=".npz.part", dir=self.directory)
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **arrays)  # uncompressed: reading fast matters more than the disk
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self._path(key))
            temporary = None
        except OSError as error:
            warnings.warn(f"solve cache {self.directory}: cannot store a solve ({error}); the run goes on without it",
                          stacklevel=2)
        finally:
            if temporary is not None:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        arrays = self.load(key)
        if arrays is None:
            arrays = compute()
            self.store(key, arrays)
        return arrays
