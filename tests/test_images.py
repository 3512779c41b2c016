"""core/images.py: any picture of a digit to MNIST's 28×28 form."""

import numpy as np
import pytest
from PIL import Image

from core.images import _area, read_digit, to_mnist
from tests.drawn import draw, phone_frame, photographed, typed


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


def _best_cosine(a, b):
    """The cosine similarity of a and b, b shifted by up to a pixel each way: the centre of mass
    may round to the next pixel."""
    a = a.astype(float).ravel()
    best = 0.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            s = np.roll(b.astype(float), (dy, dx), axis=(0, 1)).ravel()
            best = max(best, a @ s / np.linalg.norm(a) / np.linalg.norm(s))
    return best


STYLES = {
    "pen": lambda d: draw(d),
    "thin pen, upright": lambda d: draw(d, width=10, slant=0.0),
    "typed": lambda d: typed(d),
    "typed, small on the page": lambda d: typed(d, size=90, offset=(70, 60)),
}


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("digit", range(10))
def test_a_photo_under_uneven_light_with_noise_and_specks_gives_the_clean_digit(style, digit):
    """Shading, sensor noise and specks are not ink: the crop is the digit's, 20 pixels on its
    longer side as the clean picture's, and the same picture up to a pixel's shift."""
    make = STYLES[style]
    clean = to_mnist(np.asarray(make(digit)))
    photo = to_mnist(np.asarray(photographed(make(digit), seed=digit)))
    rows, cols = np.nonzero(photo)
    clean_rows, clean_cols = np.nonzero(clean)
    assert abs((np.ptp(rows) + 1) - (np.ptp(clean_rows) + 1)) <= 1
    assert abs((np.ptp(cols) + 1) - (np.ptp(clean_cols) + 1)) <= 1
    assert max(np.ptp(rows), np.ptp(cols)) + 1 == 20
    assert _best_cosine(clean, photo) >= 0.95


@pytest.mark.parametrize("light", [0.3, 0.6, 0.75])
def test_the_darker_the_lamp_the_same_digit(light):
    clean = to_mnist(np.asarray(draw(9)))
    for seed in range(3):
        photo = to_mnist(np.asarray(photographed(draw(9), seed=seed, light=light, noise=8.0)))
        assert _best_cosine(clean, photo) >= 0.95, (light, seed)


def test_a_broken_stroke_is_kept_and_a_speck_is_not():
    """Two strokes of a digit of comparable size both count; a dot of dust beside them does not."""
    image = np.full((120, 120), 230, np.uint8)
    image[20:100, 40:50] = 30  # a long stroke
    image[20:30, 55:90] = 30  # a short one, apart from it (a 5's detached bar, say)
    with_speck = image.copy()
    with_speck[60:63, 110:113] = 30  # dust near the edge
    kept = to_mnist(image)
    assert np.array_equal(to_mnist(with_speck), kept)
    cols = np.nonzero(kept)[1]
    assert np.ptp(cols) + 1 >= 10  # the short stroke widened the box


def test_a_100_megapixel_jpeg_is_read_reduced_within_memory(tmp_path):
    """10000×10000 pixels, as phones shoot: decoded at a quarter of its size (JPEG's draft mode),
    the digit found and read as the clean picture, the process's peak memory far under 1.5 GB."""
    import resource
    import subprocess
    import sys

    frame = phone_frame(7, seed=3, height=200, shape=(1000, 1000))
    frame.resize((10000, 10000), Image.Resampling.BILINEAR).save(tmp_path / "big.jpg", quality=90)
    code = (
        "import sys; from pathlib import Path; import numpy as np\n"
        "from stages.adapters.imageio import read_gray\nfrom core.images import read_digit\n"
        "gray = read_gray(Path(sys.argv[1])); digit, doubt = read_digit(gray)\n"
        "np.save(sys.argv[2], digit); print(gray.shape, doubt)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "big.jpg"), str(tmp_path / "digit.npy")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2500, 2500) None"
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 1536 * 1024  # KB
    assert _best_cosine(to_mnist(np.asarray(typed(7))), np.load(tmp_path / "digit.npy")) >= 0.95


def test_a_typed_digit_small_in_a_phone_sized_frame_is_found_wherever_it_sits():
    """The digit is under 1% of a 3000×2000 frame: found on a copy averaged over blocks, then read.
    (Against typed()'s digit at 0.9: the font's strokes are thinner at a frame's larger sizes.)"""
    for seed, height in enumerate((120, 160, 220)):
        for digit in (1, 4, 8):
            photo, doubt = read_digit(np.asarray(phone_frame(digit, seed=seed + 3 * digit, height=height)))
            assert doubt is None
            assert _best_cosine(to_mnist(np.asarray(typed(digit))), photo) >= 0.9, (digit, height)


def test_noise_alone_is_doubted_and_a_clean_digit_is_not():
    rng = np.random.default_rng(5)
    _, doubt = read_digit(np.clip(rng.normal(160, 10, (300, 400)), 0, 255))
    assert doubt is not None and doubt.startswith("no clear digit")
    assert read_digit(np.asarray(photographed(typed(4), seed=4)))[1] is None
