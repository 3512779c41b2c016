import numpy as np
import pytest

from core.augment import Augment, shifted_copies, turned_copies, warp


def _digit():
    image = np.zeros((28, 28), np.float32)
    image[8:20, 12:15] = 1.0  # a vertical bar, like a 1
    return image


def test_no_change_is_the_identity():
    image = _digit()[None]
    out = warp(image, np.zeros(1), np.ones(1), np.zeros((1, 2)))
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_a_shift_moves_the_ink():
    out = warp(_digit()[None], np.zeros(1), np.ones(1), np.array([[2.0, -3.0]]))[0]
    np.testing.assert_allclose(out[10:22, 9:12], 1.0, atol=1e-6)
    assert out.sum() == pytest.approx(_digit().sum())


def test_a_quarter_turn_lays_the_bar_down():
    out = warp(_digit()[None], np.array([np.pi / 2]), np.ones(1), np.zeros((1, 2)))[0]
    rows, cols = np.nonzero(out > 0.5)
    assert np.ptp(cols) > np.ptp(rows)  # wider than tall now


def test_ink_that_leaves_the_image_is_gone_not_smeared():
    out = warp(_digit()[None], np.zeros(1), np.ones(1), np.array([[0.0, 40.0]]))[0]
    assert not out.any()


def test_random_augmentation_is_reproducible_and_keeps_float32():
    X = np.stack([_digit().ravel()] * 5)
    a = Augment(2, 10, 0.1)(X, np.random.default_rng(3))
    b = Augment(2, 10, 0.1)(X, np.random.default_rng(3))
    assert a.dtype == np.float32 and a.shape == X.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])  # each image gets its own transform
    assert a.min() >= 0 and a.max() <= 1 + 1e-6


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match=r"zoom must be in \[0, 1\), found 1.5"):
        Augment(zoom=1.5)


def test_shifted_copies_move_the_digit_each_way_and_keep_its_ink():
    X = _digit().ravel()[None]
    views = [view.reshape(28, 28) for view in shifted_copies(X, 1.0)]
    moved = [np.argwhere(view > 0.5) for view in views]  # where the bar (rows 8..19, cols 12..14) is
    corners = sorted((tuple(at.min(axis=0)), tuple(at.max(axis=0))) for at in moved)
    assert corners == [((7, 12), (18, 14)), ((8, 11), (19, 13)), ((8, 13), (19, 15)), ((9, 12), (20, 14))]
    half = shifted_copies(X, 0.5)
    assert all(view.dtype == np.float32 and view.shape == X.shape for view in half)
    np.testing.assert_allclose([view.sum() for view in half], X.sum(), rtol=1e-6)
    edges = sorted(view.reshape(28, 28)[[7, 20], 13].tolist() for view in half)
    assert edges == [[0, 0], [0, 0], [0, 0.5], [0.5, 0]]  # a half pixel blends the bar's ends


def test_turned_copies_lean_the_bar_each_way_and_keep_its_ink():
    X = _digit().ravel()[None]
    views = turned_copies(X, 10.0)
    assert len(views) == 2 and all(view.dtype == np.float32 and view.shape == X.shape for view in views)
    leans = []
    for view in views:
        image = view.reshape(28, 28)
        top, bottom = image[9], image[18]  # rows near the bar's ends
        leans.append(np.average(np.arange(28), weights=top) - np.average(np.arange(28), weights=bottom))
        assert image.sum() == pytest.approx(X.sum(), rel=0.02)  # turned inside the frame, bilinear
    assert leans[0] * leans[1] < 0  # each way
    assert abs(leans[0]) == pytest.approx(abs(leans[1]), abs=1e-3)  # as far
    assert abs(leans[0]) == pytest.approx(9 * np.tan(np.deg2rad(10.0)), abs=0.3)  # 10 degrees over 9 rows
