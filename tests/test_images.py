"""core/images.py: any picture of a digit to MNIST's 28×28 form."""

import numpy as np
import pytest

from core.images import _area, to_mnist


def blob(height=60, width=40, top=10, left=70, shape=(120, 160), ink=255, paper=0):
    """A rectangle of ink on paper: a stand-in digit whose geometry is known."""
    image = np.full(shape, paper, np.uint8)
    image[top : top + height, left : left + width] = ink
    return image


def test_shape_dtype_and_range():
    out = to_mnist(blob())
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255 and out.min() == 0


def test_the_longer_side_is_fitted_to_20_pixels_keeping_the_aspect_ratio():
    out = to_mnist(blob(height=60, width=30))
    rows, cols = np.nonzero(out)
    assert rows.max() - rows.min() + 1 == 20
    assert cols.max() - cols.min() + 1 == 10


def test_centred_by_mass():
    out = to_mnist(blob(height=50, width=20, top=3, left=120)).astype(float)
    ys, xs = np.mgrid[:28, :28]
    assert abs((ys * out).sum() / out.sum() - 13.5) <= 0.5
    assert abs((xs * out).sum() / out.sum() - 13.5) <= 0.5


def test_the_place_and_the_size_on_the_page_do_not_matter():
    assert np.array_equal(to_mnist(blob(top=5, left=5)), to_mnist(blob(top=50, left=110)))
    small, large = blob(height=30, width=20), blob(height=90, width=60, shape=(200, 200))
    assert np.array_equal(to_mnist(small), to_mnist(large))


def test_dark_ink_on_light_paper_is_inverted():
    light_on_dark = to_mnist(blob(ink=250, paper=10))
    dark_on_light = to_mnist(blob(ink=10, paper=250))
    assert np.array_equal(light_on_dark, dark_on_light)
    assert dark_on_light[0, 0] == 0  # MNIST's background is black


def test_faint_paper_texture_is_not_ink():
    rng = np.random.default_rng(0)
    paper = rng.integers(200, 230, (120, 160)).astype(np.uint8)  # grey, grainy paper
    drawn = paper.copy()
    drawn[10:70, 70:110] = 20
    clean = to_mnist(blob(ink=20, paper=215))
    assert np.array_equal(to_mnist(drawn) > 0, clean > 0)


@pytest.mark.parametrize("image", [np.full((50, 50), 255, np.uint8), np.zeros((9, 9), np.uint8)])
def test_a_blank_image_is_refused(image):
    with pytest.raises(ValueError, match="no digit found: the image is blank"):
        to_mnist(image)


@pytest.mark.parametrize("shape", [(0, 5), (28, 28, 3)])
def test_only_nonempty_greyscale_images(shape):
    with pytest.raises(ValueError, match="expected a non-empty greyscale image"):
        to_mnist(np.zeros(shape, np.uint8))


@pytest.mark.parametrize(("n", "size"), [(20, 60), (20, 7), (3, 10), (7, 7)])
def test_area_weights_keep_the_mean(n, size):
    weights = _area(n, size)
    assert weights.shape == (n, size)
    np.testing.assert_allclose(weights.sum(axis=1), 1, rtol=1e-6)  # each output pixel: an average
    np.testing.assert_allclose(weights.sum(axis=0), n / size, rtol=1e-6)  # each input counted fully


def test_area_weights_by_hand():
    # 3 pixels to 2: the middle pixel is split half and half.
    np.testing.assert_allclose(_area(2, 3), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]], rtol=1e-6)
