"""What NeXus tools look for in a run file, written beside SQM's own layout.

A run file is an NXroot; each step is an NXentry with its data in NXdata groups. On top
of that layout (whose paths and attributes scripts rely on: docs/architecture.md), this
module adds what nexusformat, silx and NeXpy read:

- the root's `file_name`, `file_time`, `creator`, `HDF5_Version` and `@default`: the
  first entry that measured something (not a cool-down or a move), so a viewer opens
  the measurement;
- each entry's `title`, `start_time`, `end_time` and `@default` (its main NXdata), an
  NXuser (the operator), an NXsample (its name, description and the temperature the
  step recorded), an NXnote (the operator's note), and its `snapshot` group marked as
  the NXinstrument, one NeXus group per role;
- `@long_name` ("name (units)") on every signal and axis.

No NeXus application definition fits a scanning-SQUID run, so `definition` is not
written. Functions take h5py objects and write attributes and small datasets; the store
calls them inside its guarded writes (so a full disk is handled as for any write).
"""

from __future__ import annotations

import h5py

from . import __version__

CREATOR = f"sqm {__version__}"

# The NeXus base class of each role's group in an entry's NXinstrument (`snapshot`).
ROLE_CLASSES = {
    "squid": "NXdetector",
    "scanner": "NXpositioner",
    "temperature": "NXsensor",
    "voltmeter": "NXsensor",
    "touchdown": "NXsensor",
}
DEFAULT_ROLE_CLASS = "NXcollection"  # sources and the magnet supply: settings and readings


def _string(group: h5py.Group, name: str, text: str) -> None:
    group.create_dataset(name, data=text, dtype=h5py.string_dtype())


def decorate_root(root: h5py.File, file_name: str, file_time: str) -> None:
    """The NXroot attributes of the NeXus standard."""
    root.attrs["file_name"] = file_name
    root.attrs["file_time"] = file_time
    root.attrs["creator"] = CREATOR
    root.attrs["HDF5_Version"] = h5py.version.hdf5_version


def decorate_entry(entry: h5py.Group, title: str, start_time: str, metadata: dict[str, str]) -> None:
    """An NXentry's title and start, and who, what and why: NXuser, NXsample, NXnote
    (from `metadata`: operator, sample, sample_description, note; each only if given)."""
    _string(entry, "title", title)
    _string(entry, "start_time", start_time)
    if metadata.get("operator"):
        user = entry.create_group("user")
        user.attrs["NX_class"] = "NXuser"
        _string(user, "name", metadata["operator"])
    if metadata.get("sample"):
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        _string(sample, "name", metadata["sample"])
        if metadata.get("sample_description"):
            _string(sample, "description", metadata["sample_description"])
    if metadata.get("note"):
        note = entry.create_group("note")
        note.attrs["NX_class"] = "NXnote"
        _string(note, "type", "text/plain")
        _string(note, "data", metadata["note"])


def mark_instrument(snapshot: h5py.Group) -> None:
    """The entry's `snapshot` as its NXinstrument: one NeXus group per role, its identity
    as the group's `name`."""
    snapshot.attrs["NX_class"] = "NXinstrument"
    for role, group in snapshot.items():
        group.attrs["NX_class"] = ROLE_CLASSES.get(role, DEFAULT_ROLE_CLASS)
        identity = group.attrs.get("identity")
        if identity is not None:
            _string(group, "name", identity.decode() if isinstance(identity, bytes) else str(identity))


def long_name(dataset: h5py.Dataset, name: str, units: str) -> None:
    """`@long_name`: what a plot's axis says."""
    label = name.replace("_", " ")
    dataset.attrs["long_name"] = f"{label} ({units})" if units and units != "1" else label


def link_sample_temperature(entry: h5py.Group, data: h5py.Group) -> None:
    """The step's temperature column as its NXsample's temperature (a link, not a copy)."""
    if "temperature" in data and "sample" in entry and "temperature" not in entry["sample"]:
        entry["sample"]["temperature"] = h5py.SoftLink(data["temperature"].name)


def finish_entry(entry: h5py.Group, end_time: str) -> None:
    _string(entry, "end_time", end_time)


def point_default(entry: h5py.Group, data_group: str, root: h5py.File, measures: bool) -> None:
    """The entry's main NXdata is `data_group`; the root's default becomes this entry if
    it measures something and the root points at none yet (the first measurement wins)."""
    if "default" not in entry.attrs:
        entry.attrs["default"] = data_group
    if measures and "default" not in root.attrs:
        root.attrs["default"] = entry.name.lstrip("/")


def settle_root_default(root: h5py.File) -> None:
    """At the run's end: a run that measured nothing (a cool-down alone) points at its
    first entry with data."""
    if "default" in root.attrs:
        return
    for name, entry in root.items():
        if isinstance(entry, h5py.Group) and "default" in entry.attrs:
            root.attrs["default"] = name
            return
