"""A folder of run files as a Tiled tree: one node per file, opened by Tiled's HDF5 adapter.

The folder is listed anew at every request, so a run that starts while the server is up
appears at once, and a run that ends becomes readable without a restart: there is no
catalog to index or keep in step. Each file is opened (read-only, for that request only)
when a client asks for it; the server keeps no file open between requests, so it never
holds up a writer.

A run file is an NXroot; below it Tiled shows each step (NXentry) as a container, its
NXdata and snapshot groups as containers, and every dataset as an array. HDF5 attributes
are each node's metadata (the root's `status`, `procedure`, ...; a dataset's `units`).

A run still being written (SQM writes in HDF5's SWMR mode), or one whose writer was
killed, is opened as a SWMR reader: it is served as of its writer's last flush, and a
client that asks again sees it grow; its root `status` says `running`.

A file HDF5 cannot open is listed all the same, as an empty node whose metadata says why
(`unavailable`): a file locked by a writer that does not write in SWMR mode (another
program, an older SQM) until it closes it; a damaged file says what HDF5 reported.
Nothing of it is served, and the server goes on serving the other files.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tiled.adapters.hdf5 import HDF5Adapter, get_hdf5_attrs
from tiled.adapters.mapping import MapAdapter
from tiled.structures.container import ContainerStructure
from tiled.utils import ensure_uri

# Suffixes of the files served: SQM writes .h5; NeXus files from elsewhere are often .nxs.
RUN_FILE_SUFFIXES = (".h5", ".hdf5", ".nxs")
UNAVAILABLE_KEY = "unavailable"  # the metadata key of a file that could not be opened
LOCKED_BY_WRITER = "still being written: locked by its writer until it closes the file"


def run_folder_tree(folder: Path) -> MapAdapter:
    """The Tiled tree of `folder`: its run files by name without the suffix, and its
    subfolders (other than hidden ones) as nested trees of the same kind."""
    return _LiveMapAdapter(RunFiles(folder), metadata={"folder": str(folder)})


class RunFiles(Mapping[str, Any]):
    """{key: Tiled adapter} of a folder, read from the disk at every access.

    The key is the file name without its suffix (as `tiled serve directory` names them),
    or the whole name when two files differ only in their suffix; a subfolder keeps its name.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _entries(self) -> dict[str, Path]:
        try:
            children = sorted(self.folder.iterdir())
        except OSError:  # the folder was removed or became unreadable while served: show it empty
            return {}
        files = [path for path in children if path.suffix.lower() in RUN_FILE_SUFFIXES and path.is_file()
                 and not path.name.startswith(".")]
        stems = [path.stem for path in files]
        entries = {path.stem if stems.count(path.stem) == 1 else path.name: path for path in files}
        entries.update({path.name: path for path in children if path.is_dir() and not path.name.startswith(".")
                        and path.name not in entries})
        return entries

    def __getitem__(self, key: str) -> Any:
        path = self._entries()[key]  # KeyError: Tiled answers 404
        if path.is_dir():
            return run_folder_tree(path)
        return open_run_file(path)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())


def open_run_file(path: Path) -> Any:
    """Tiled's HDF5 adapter on `path`, or an empty node whose metadata says why it cannot
    be opened (locked by a writer not in SWMR mode, damaged). KeyError if the file has gone."""
    try:
        try:
            return _RunFileAdapter.from_uris(ensure_uri(str(path)))
        except OSError as error:
            if "already open for write" not in str(error):
                raise
            return _RunFileAdapter.from_uris(ensure_uri(str(path)), swmr=True)  # a running or killed run
    except FileNotFoundError:
        raise KeyError(path.name) from None
    except OSError as error:  # h5py's open failures are OSErrors: a lock, a truncated or foreign file
        return MapAdapter({}, metadata={UNAVAILABLE_KEY: _why_unopenable(error), "file": path.name})


class _RunFileAdapter(HDF5Adapter):
    """Tiled's HDF5 adapter, reading a node's metadata the way it opened the file.

    Tiled 0.2.20's `HDF5Adapter.metadata()` reopens the file without the adapter's own
    options (swmr, libver, locking): a file opened as a SWMR reader (a running run) then
    fails with "already open for write" on its first metadata request.
    """

    def metadata(self) -> Any:
        attributes = get_hdf5_attrs(self.uris[0], self.dataset, **self._kwargs)
        return {**attributes, **super(HDF5Adapter, self).metadata()}

    def __getitem__(self, key: str) -> Any:
        node = super().__getitem__(key)
        if type(node) is HDF5Adapter:  # a group: its metadata is read the same way
            node.__class__ = _RunFileAdapter
        return node


def _why_unopenable(error: OSError) -> str:
    text = " ".join(str(error).split())
    # A writer's lock comes as errno EAGAIN ("unable to lock file, errno = 11"). Other lock
    # errors (a file system without locks: ENOSYS, ENOLCK) are not a writer: said as they are.
    if isinstance(error, BlockingIOError) or error.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
        return LOCKED_BY_WRITER
    return f"cannot be opened: {text}"


class _LiveMapAdapter(MapAdapter):
    """A MapAdapter whose structure (its keys) is read when asked, not when it was made."""

    def structure(self) -> ContainerStructure:
        return ContainerStructure(keys=list(self._mapping.keys()))
