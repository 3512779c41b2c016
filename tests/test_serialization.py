import io

import numpy as np
import pytest

from core.serialization import load_npz, npz_bytes


def test_same_arrays_give_the_same_bytes_and_load_back():
    arrays = {"W1": np.arange(6, dtype=np.float32).reshape(2, 3), "b1": np.zeros((2, 1), np.float32)}
    first = npz_bytes(arrays)
    assert first == npz_bytes(dict(reversed(list(arrays.items()))))
    loaded = load_npz(io.BytesIO(first))
    assert loaded.keys() == arrays.keys()
    for key in arrays:
        np.testing.assert_array_equal(loaded[key], arrays[key])
        assert loaded[key].dtype == arrays[key].dtype


def test_different_arrays_give_different_bytes():
    assert npz_bytes({"W": np.zeros(3, np.float32)}) != npz_bytes({"W": np.ones(3, np.float32)})


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="W holds pickled Python objects, which are never loaded"):
        load_npz(path)


@pytest.mark.parametrize("content", [b"", b"not a zip", npz_bytes({"W": np.ones(9, np.float32)})[:100]])
def test_broken_files_are_a_value_error(tmp_path, content):
    path = tmp_path / "weights.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        load_npz(path)
