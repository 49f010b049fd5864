"""The superblock's "open for write" flags: read, and cleared only where understood."""

from __future__ import annotations

import h5py
import pytest

from sqm.store import FILE_FORMAT
from sqm.writer_flags import UnknownSuperblock, clear_writer_flags, lookup3, writer_flags


@pytest.mark.parametrize("data, initval, expected", [
    (b"", 0, 0xDEADBEEF),
    (b"", 0xDEADBEEF, 0xBD5B7DDE),
    (b"Four score and seven years ago", 0, 0x17770551),
    (b"Four score and seven years ago", 1, 0xCD628161),
])
def test_lookup3_gives_bob_jenkins_published_values(data, initval, expected):
    assert lookup3(data, initval) == expected


def _held_file(path, tmp_path):
    """A SWMR file whose writer never closed it: a copy taken while it was open."""
    with h5py.File(path, "w", libver=FILE_FORMAT) as h5:
        h5["x"] = [1.0, 2.0, 3.0]
        h5.swmr_mode = True
        h5.flush()
        copy = tmp_path / "killed.h5"
        copy.write_bytes(path.read_bytes())
    return copy


def test_a_file_left_open_for_write_opens_plainly_once_its_flags_are_cleared(tmp_path):
    killed = _held_file(tmp_path / "run.h5", tmp_path)
    assert writer_flags(killed) != 0
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(killed, "r")
    assert clear_writer_flags(killed) is True
    assert writer_flags(killed) == 0
    with h5py.File(killed, "r") as h5:
        assert list(h5["x"][()]) == [1.0, 2.0, 3.0]
    assert clear_writer_flags(killed) is False  # nothing left to clear


def test_a_superblock_it_does_not_understand_is_left_alone(tmp_path):
    old = tmp_path / "old.h5"
    with h5py.File(old, "w") as h5:  # HDF5's default format: superblock version 0, no flags
        h5["x"] = [1.0]
    before = old.read_bytes()
    assert writer_flags(old) == 0
    with pytest.raises(UnknownSuperblock, match="version 0"):
        clear_writer_flags(old)
    assert old.read_bytes() == before
    killed = _held_file(tmp_path / "run.h5", tmp_path)
    damaged = bytearray(killed.read_bytes())
    damaged[20] ^= 0xFF  # an address in the superblock: its checksum no longer matches
    killed.write_bytes(bytes(damaged))
    with pytest.raises(UnknownSuperblock, match="checksum"):
        clear_writer_flags(killed)
    assert killed.read_bytes() == bytes(damaged)
