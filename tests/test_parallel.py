import numpy as np
import pytest

from core import parallel
from core.conv import Conv2D, MaxPool2D
from core.layers import Mode


@pytest.mark.parametrize("rows", [1, 2, 7, 128])
@pytest.mark.parametrize("nbytes", [0, 1 << 30])
def test_by_rows_covers_every_row_exactly_once(rows, nbytes):
    seen = np.zeros(rows, int)

    def work(piece: slice) -> None:
        seen[piece] += 1

    parallel.by_rows(work, rows, nbytes)
    np.testing.assert_array_equal(seen, 1)


def test_by_rows_raises_what_a_piece_raises():
    def work(piece: slice) -> None:
        if piece.stop == 10:
            raise ValueError("the last piece failed")

    with pytest.raises(ValueError, match="the last piece failed"):
        parallel.by_rows(work, 10, 1 << 30)


def test_maxpool_on_a_batch_big_enough_to_be_split_matches_a_loop():
    # 16 MB of activations, many of them tied (as a conv's bias is, on blank background)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, (64, 16, 16, 64)).astype(np.float32)
    assert X.nbytes > parallel.MIN_BYTES
    layer = MaxPool2D(2)
    Y, cache = layer.forward({}, X, Mode())
    dY = rng.random(Y.shape, dtype=np.float32)
    dX, _ = layer.backward({}, cache, dY, True)
    windows = X.reshape(64, 8, 2, 8, 2, 64).transpose(0, 1, 3, 5, 2, 4).reshape(64, 8, 8, 64, 4)
    np.testing.assert_array_equal(Y, windows.max(axis=-1))
    first = windows.argmax(axis=-1)  # argmax picks the first of equal maxima
    expected = np.zeros(windows.shape, np.float32)
    np.put_along_axis(expected, first[..., np.newaxis], dY[..., np.newaxis], axis=-1)
    expected = expected.reshape(64, 8, 8, 64, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(X.shape)
    np.testing.assert_array_equal(dX, expected)


def test_conv_and_pooling_give_the_same_bytes_split_or_not(monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.random((64, 28, 28, 1), dtype=np.float32)
    conv = Conv2D(32, 5)
    params, _ = conv.init(rng, X.shape[1:])

    def run() -> list[np.ndarray]:
        Z, conv_cache = conv.forward(params, X, Mode())
        Y, pool_cache = MaxPool2D(2).forward({}, Z, Mode())
        dX, _ = MaxPool2D(2).backward({}, pool_cache, np.ones_like(Y), True)
        return [Z, conv_cache[0], Y, dX]

    split = run()
    assert split[0].nbytes > parallel.MIN_BYTES
    monkeypatch.setattr(parallel, "MIN_BYTES", 1 << 40)
    for a, b in zip(split, run(), strict=True):
        assert a.tobytes() == b.tobytes()
