"""Weights as .npz files of plain arrays, byte-identical for identical arrays.

np.savez stamps each zip entry with the current time, so saving the same weights twice gives two
different files; here every entry carries a fixed timestamp and the entries are sorted by name.
Loading refuses pickled objects.
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

_EPOCH = (1980, 1, 1, 0, 0, 0)


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
        with np.load(source, allow_pickle=False) as archive:
            arrays = {}
            for name in archive.files:
                try:
                    arrays[name] = archive[name]
                except ValueError as error:
                    if "pickle" not in str(error):
                        raise
                    raise ValueError(
                        f"{name} holds pickled Python objects, which are never loaded (unpickling can "
                        "run code): a weights file holds plain arrays only"
                    ) from None
            return arrays
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"not a readable .npz archive ({error})") from None
