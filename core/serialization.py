"""Weights as .npz files of plain arrays, byte-identical for identical arrays.

np.savez stamps each zip entry with the current time, so saving the same weights twice gives two
different files; here every entry carries a fixed timestamp and the entries are sorted by name.
Loading refuses pickled objects, and checks each array's declared size against the bytes its entry
holds before asking for the memory.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

_EPOCH = (1980, 1, 1, 0, 0, 0)
MAX_BYTES = 1 << 30  # per array; the largest this project writes, train.npz's pixels, is 29 MB


def npz_bytes(arrays: dict[str, NDArray[Any]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
            with archive.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.ascontiguousarray(arrays[name]), allow_pickle=False)
    return buffer.getvalue()


def load_npz(source: str | os.PathLike[str] | IO[bytes]) -> dict[str, NDArray[Any]]:
    """The arrays of an .npz path or file object; ValueError if it is not one or holds objects."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as file:  # np.load leaks its own handle when the zip is bad
            return load_npz(file)
    head = source.read(4)
    source.seek(0)
    if head != b"PK\x03\x04":  # np.load would take anything else for a .npy or a pickle
        found = {b"": "an empty file", b"\x93NUM": "a single .npy array"}.get(head, "not a zip file")
        raise ValueError(f"not a readable .npz archive ({found})")
    try:
        with zipfile.ZipFile(source) as archive:
            return {info.filename.removesuffix(".npy"): _array(archive, info) for info in archive.infolist()}
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError, RuntimeError) as error:
        raise ValueError(f"not a readable .npz archive ({error})") from None


def _array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> NDArray[Any]:
    """One entry's array, once its header's shape and dtype fit the bytes the entry holds."""
    name = info.filename.removesuffix(".npy")
    if info.flag_bits & 0x1:
        raise ValueError(f"{name} is encrypted, which no weights file is")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{name} is compressed by zip method {info.compress_type}, not stored or deflated")
    with archive.open(info) as entry:
        try:
            version = np.lib.format.read_magic(entry)
            read_header = np.lib.format.read_array_header_1_0
            if version != (1, 0):
                read_header = np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(entry)
        except ValueError as error:
            raise ValueError(f"{name} is not a .npy array ({' '.join(str(error).split())})") from None
    if dtype.hasobject:
        raise ValueError(
            f"{name} holds pickled Python objects, which are never loaded (unpickling can "
            "run code): a weights file holds plain arrays only"
        )
    size = math.prod(shape) * dtype.itemsize
    if size > info.file_size:
        raise ValueError(
            f"{name} declares {shape} of {dtype} ({size:,} bytes), but its entry holds "
            f"{info.file_size:,} bytes: a damaged file"
        )
    if size > MAX_BYTES:
        raise ValueError(f"{name} holds {size:,} bytes, more than any array this project writes")
    with archive.open(info) as entry:
        array: NDArray[Any] = np.lib.format.read_array(entry, allow_pickle=False)
    return array
