"""The "open for write" flags an HDF5 file keeps in its superblock, read and cleared.

A run file is written in SWMR mode (HDF5's single-writer/multiple-reader format), so
other programs can read it while it grows. That format marks the file "open for write"
in its superblock while the writer has it, and clears the mark when the writer closes
it. A writer that is killed never clears it: the data stay readable with
`h5py.File(path, "r", swmr=True)` (as every SQM reader opens files), but plain
`h5py.File(path)` refuses the file, and so does any attempt to write it again.

`clear_writer_flags` does what HDF5's `h5clear -s` does, without needing HDF5's tools:
it sets the flags byte of the superblock to zero and writes the superblock's checksum
again. It only touches a file whose superblock it fully understands (version 2 or 3,
at the start of the file, its checksum verified first); anything else is left alone.
Call it only when the writer is known to be gone (`sqm.readback.writer_state`).

Superblock version 2 and 3 (HDF5 file format specification, section II.A): signature
(8 bytes), version (1), size of offsets (1), size of lengths (1), file consistency
flags (1), four addresses of `size of offsets` bytes each, then a Jenkins lookup3
checksum (4 bytes, little-endian) of everything before it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_FLAGS_OFFSET = 11
_MASK = 0xFFFFFFFF


class UnknownSuperblock(ValueError):
    """The file's superblock is not one `clear_writer_flags` may change (with the reason)."""


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    """lookup3's mix of three 32-bit words, as published."""
    for first, second, bits, third in ((0, 2, 4, 1), (1, 0, 6, 2), (2, 1, 8, 0),
                                       (0, 2, 16, 1), (1, 0, 19, 2), (2, 1, 4, 0)):
        words = [a, b, c]
        # x -= z; x ^= rot(z, k); z += y
        words[first] = ((words[first] - words[second]) & _MASK) ^ _rotate(words[second], bits)
        words[second] = (words[second] + words[third]) & _MASK
        a, b, c = words
    return a, b, c


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 `hashlittle`: the checksum of HDF5's metadata (H5_checksum_lookup3)."""
    a = b = c = (0xDEADBEEF + len(data) + initval) & _MASK
    length, offset = len(data), 0
    while length > 12:
        x, y, z = struct.unpack_from("<3I", data, offset)
        a, b, c = (a + x) & _MASK, (b + y) & _MASK, (c + z) & _MASK
        a, b, c = _mix(a, b, c)
        length -= 12
        offset += 12
    if length == 0:
        return c
    x, y, z = struct.unpack("<3I", data[offset:offset + length].ljust(12, b"\0"))
    a, b, c = (a + x) & _MASK, (b + y) & _MASK, (c + z) & _MASK
    c = (c ^ b) - _rotate(b, 14) & _MASK
    a = (a ^ c) - _rotate(c, 11) & _MASK
    b = (b ^ a) - _rotate(a, 25) & _MASK
    c = (c ^ b) - _rotate(b, 16) & _MASK
    a = (a ^ c) - _rotate(c, 4) & _MASK
    b = (b ^ a) - _rotate(a, 14) & _MASK
    c = (c ^ b) - _rotate(b, 24) & _MASK
    return c


def _superblock(path: str | Path) -> bytes:
    """The superblock's bytes, checksum included, once its layout and checksum are verified."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:8] != SIGNATURE:
            raise UnknownSuperblock("no HDF5 signature at the start of the file")
        version, offset_size = head[8], head[9]
        if version not in (2, 3):
            raise UnknownSuperblock(f"superblock version {version} keeps no writer flags")
        if offset_size not in (2, 4, 8):
            raise UnknownSuperblock(f"size of offsets {offset_size}")
        block = head + handle.read(4 * offset_size + 4)
    body_length = 12 + 4 * offset_size
    if len(block) != body_length + 4:
        raise UnknownSuperblock("the superblock is cut short")
    (stored,) = struct.unpack_from("<I", block, body_length)
    if lookup3(block[:body_length]) != stored:
        raise UnknownSuperblock("the superblock's checksum does not match")
    return block


def writer_flags(path: str | Path) -> int:
    """The superblock's file consistency flags: 0 when no writer has the file open (or
    closed it properly); bit 0 "open for write", bit 2 "open for SWMR write"."""
    try:
        return _superblock(path)[_FLAGS_OFFSET]
    except (UnknownSuperblock, OSError):
        return 0  # older formats keep no such flags; a folder or an unreadable file has none


def clear_writer_flags(path: str | Path) -> bool:
    """Clear the "open for write" flags left by a writer that is gone; True if they were set.

    Raises UnknownSuperblock (and changes nothing) for a superblock it does not fully
    understand. Never call it while a writer has the file open.
    """
    block = bytearray(_superblock(path))
    if block[_FLAGS_OFFSET] == 0:
        return False
    block[_FLAGS_OFFSET] = 0
    body_length = len(block) - 4
    struct.pack_into("<I", block, body_length, lookup3(bytes(block[:body_length])))
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(descriptor, bytes(block), 0)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return True
