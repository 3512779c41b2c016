"""Any picture of one digit -> a 28×28 MNIST-style image, in NumPy.

MNIST's own preprocessing (LeCun et al.): light ink on black, the digit's bounding box fitted into
20×20 with its aspect ratio kept and anti-aliased, then placed in 28×28 so that its centre of mass
sits at the centre. A photo or drawing is usually dark ink on light paper, off-centre, of any size,
and lit unevenly, with specks and sensor noise; `read_digit` separates the ink from the paper first:

0. in a large frame (a phone's photo), the digit is found on a copy averaged over blocks, where
   the sensor's noise shrinks and a small digit stands out, and the steps below read the region
   around it at full size;
1. the paper's brightness is fitted as a smooth surface (a quadratic in x and y, through the pixels
   that are paper) and subtracted, so that shading is not ink;
2. a threshold chosen from the histogram of what is left (Otsu's, and never within the paper's
   noise) marks the ink;
3. of the marked regions, the main stroke and those of a comparable size are kept: specks are not
   part of the digit, so they neither stretch its box nor stay beside it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

BOX = 20  # the digit's longer side, in pixels
SIDE = 28  # the image's side
INK = 0.2  # after levelling, pixels below this fraction of the ink's level are paper
NOISE = 4.0  # the ink threshold stays this many standard deviations of the paper above it
KEEP = 0.1  # regions with less ink than this fraction of the main stroke's are specks
GRID = 160  # regions are found on a grid of at most this many cells a side
FLOOR = 1 / 4096  # the levelled image is rounded to this step: fits that differ by rounding agree
LOCATE = 400  # a larger frame's digit is found first on a copy of at most this many pixels a side
MARGIN = 0.5  # around the digit found, this fraction of its longer side is read with it
READ = 64  # ... at a size where the digit's longer side is at least this many pixels (3 × BOX)
CLEAR = 10.0  # a clear digit's ink, in the paper's noise's standard deviations (noise alone: ~4.5)


def to_mnist(gray: NDArray[np.floating] | NDArray[np.integer]) -> NDArray[np.uint8]:
    """read_digit's image alone."""
    return read_digit(gray)[0]


def read_digit(gray: NDArray[np.floating] | NDArray[np.integer]) -> tuple[NDArray[np.uint8], str | None]:
    """A (height, width) greyscale image, 0 = black, 255 = white -> ((28, 28) uint8, ink bright;
    why the digit is not clear, or None).

    Dark ink on light paper is inverted (the ink is the side of the paper with the longer tail).
    Raises ValueError for an image with no ink.
    """
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"expected a non-empty greyscale image (height, width), got shape {gray.shape}")
    g: NDArray[np.float32] = np.asarray(gray, np.float32) / np.float32(255)  # (h, w) in [0, 1]
    block = -(-max(g.shape) // LOCATE)
    if block > 1:
        g = _around_the_digit(g, block)
    elif _dark_ink(g):
        g = np.float32(1) - g
    ink, clarity = _main_ink(*_level(g))
    rows, cols = np.nonzero(ink)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]  # crop to the ink
    h, w = ink.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = _area(new_h, h) @ ink @ _area(new_w, w).T  # (new_h, h) @ (h, w) @ (w, new_w)
    total = small.sum()
    centre_y = (np.arange(new_h) @ small.sum(axis=1)) / total
    centre_x = (np.arange(new_w) @ small.sum(axis=0)) / total
    # offsets to 3 decimals first: a centre midway between two pixels (a symmetric digit) must go
    # the same way whatever the float rounding, which differs between BLAS kernels and CPUs
    top = int(np.clip(round(round(SIDE / 2 - 0.5 - centre_y, 3)), 0, SIDE - new_h))
    left = int(np.clip(round(round(SIDE / 2 - 0.5 - centre_x, 3)), 0, SIDE - new_w))
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top : top + new_h, left : left + new_w] = small
    doubt = None
    if clarity < CLEAR:
        doubt = f"no clear digit: its ink stands only {clarity:.1f} times the paper's noise above it"
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8), doubt


def _averaged(g: NDArray[np.float32], block: int) -> NDArray[np.float32]:
    """g averaged over blocks of block × block pixels (the last partial ones dropped)."""
    h, w = g.shape
    whole = g[: h // block * block, : w // block * block].reshape(h // block, block, w // block, block)
    averaged: NDArray[np.float32] = whole.mean(axis=(1, 3), dtype=np.float32)
    return averaged


def _dark_ink(g: NDArray[np.float32]) -> bool:
    """Whether the ink is darker than the paper: the brightness's tail beyond the paper's noise
    (its median absolute deviation, after a plane takes out a slope of the light) is longer on the
    dark side. Percentiles of the image would not do: a small digit in a large frame is under 1%."""
    h, w = g.shape
    v = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    u = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    terms = np.stack(
        [np.ones(h * w), np.broadcast_to(u, (h, w)).ravel(), np.broadcast_to(v, (h, w)).ravel()], 1
    )
    values = g.ravel().astype(np.float64)
    residual = values - terms @ np.linalg.lstsq(terms, values, rcond=None)[0]
    middle = float(np.median(residual))
    spread = max(float(np.median(np.abs(residual - middle))) * 1.4826, 0.5 / 255)
    dark = np.count_nonzero(residual < middle - NOISE * spread)
    light = np.count_nonzero(residual > middle + NOISE * spread)
    return bool(dark > light)


def _around_the_digit(g: NDArray[np.float32], block: int) -> NDArray[np.float32]:
    """The region of g (ink made bright) around its digit, found on g averaged over blocks of
    block × block pixels: averaging n² pixels divides the sensor's noise by n, not the ink."""
    coarse = _averaged(g, block)
    dark = _dark_ink(coarse)
    if dark:
        coarse, g = np.float32(1) - coarse, np.float32(1) - g
    ink, _ = _main_ink(*_level(coarse))
    rows, cols = np.nonzero(ink)
    top, bottom, left, right = (
        rows.min() * block,
        (rows.max() + 1) * block,
        cols.min() * block,
        (cols.max() + 1) * block,
    )
    side = max(bottom - top, right - left)
    margin = int(MARGIN * side) + block
    region = g[max(top - margin, 0) : bottom + margin, max(left - margin, 0) : right + margin]
    return _averaged(region, max(1, side // READ))


def _level(g: NDArray[np.float32]) -> tuple[NDArray[np.float32], float]:
    """g (ink bright) less its paper, and the paper's noise (a standard deviation, robustly from
    the median absolute deviation): a quadratic surface fitted to the pixels below the ink
    threshold, twice (first around the median), moved to the paper's median, then the difference
    clipped at 0 and rounded to FLOOR."""
    h, w = g.shape
    v = np.linspace(-1, 1, h, dtype=np.float32)[:, None]  # (h, 1)
    u = np.linspace(-1, 1, w, dtype=np.float32)[None, :]  # (1, w)
    stride = max(1, int(np.sqrt(h * w / 40_000)))  # fit through at most ~40,000 pixels
    vs, us = np.broadcast_arrays(v[::stride], u[:, ::stride])
    terms = np.stack(
        [np.ones(vs.size), us.ravel(), vs.ravel(), us.ravel() ** 2, (us * vs).ravel(), vs.ravel() ** 2], 1
    )
    values = g[::stride, ::stride].ravel().astype(np.float64)
    fit = np.array([np.median(values), 0, 0, 0, 0, 0])
    for _ in range(2):
        residual = values - terms @ fit
        is_paper = residual <= _otsu(residual)
        if is_paper.sum() < len(fit):
            break
        fit = np.linalg.lstsq(terms[is_paper], values[is_paper], rcond=None)[0]
    residual = values - terms @ fit
    centre = float(np.median(residual))  # the paper's middle: the fit ran through its darker half
    noise = 1.4826 * float(np.median(np.abs(residual - centre)))
    c = fit.astype(np.float32)
    c[0] += np.float32(centre)
    surface = c[0] + c[1] * u + c[2] * v + c[3] * u * u + c[4] * u * v + c[5] * v * v  # (h, w)
    levelled: NDArray[np.float32] = np.round(np.clip(g - surface, 0, None) / FLOOR) * FLOOR
    return levelled.astype(np.float32), noise


def _otsu(values: NDArray[np.floating]) -> float:
    """The threshold that best splits values in two classes (Otsu 1979, on a 256-bin histogram)."""
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-6:
        return high
    counts, edges = np.histogram(values, bins=256, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts).astype(np.float64)
    mass = np.cumsum(counts * centres)
    total, total_mass = weight[-1], mass[-1]
    below, above = weight[:-1], total - weight[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * below / total - mass[:-1]) ** 2 / (below * above)
    between[~np.isfinite(between)] = -1
    return float(edges[1:][np.argmax(between)])


def _main_ink(levelled: NDArray[np.float32], noise: float) -> tuple[NDArray[np.float32], float]:
    """The ink of the digit, in [0, 1]: levelled divided by the ink's level, with everything but
    the main stroke and the regions of a comparable size set to 0; and the ink's level in standard
    deviations of the paper's noise."""
    threshold = max(_otsu(levelled), NOISE * noise)
    marked = levelled > threshold
    if not marked.any():
        raise ValueError("no digit found: the image is blank (no ink darker or lighter than its paper)")
    kept = _kept(marked, levelled)
    level = float(np.percentile(levelled[marked & kept], 99))  # the digit's, not the noise's
    if level < 0.1:
        raise ValueError("no digit found: the image is blank (no ink darker or lighter than its paper)")
    ink = np.clip(levelled / level, 0, 1)
    ink[ink < INK] = 0
    main: NDArray[np.float32] = ink * kept
    return main, level / max(noise, FLOOR)


def _kept(marked: NDArray[np.bool_], levelled: NDArray[np.float32]) -> NDArray[np.bool_]:
    """The pixels of the marked regions (8-connected, found on a grid of at most GRID cells a side,
    a cell marked if any of its pixels is) that hold at least KEEP of the largest region's ink,
    grown by one cell so that the strokes' anti-aliased edges stay."""
    h, w = marked.shape
    cell = max(1, -(-max(h, w) // GRID))
    gh, gw = -(-h // cell), -(-w // cell)
    padded = np.zeros((gh * cell, gw * cell), np.float32)
    padded[:h, :w] = np.where(marked, levelled, 0)
    mass = padded.reshape(gh, cell, gw, cell).sum(axis=(1, 3))
    labels = _regions(mass > 0)
    region_mass = np.bincount(labels.ravel(), weights=mass.ravel())
    region_mass[0] = 0  # label 0 is the paper
    keep = region_mass >= KEEP * region_mass.max()
    grid = _grow_max(keep[labels].astype(np.intp)) > 0  # grown by one cell
    full = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)[:h, :w]
    return full


def _regions(mask: NDArray[np.bool_]) -> NDArray[np.intp]:
    """8-connected regions of mask, labelled 1, 2, ... (0 outside), by spreading the largest label
    to neighbours until nothing changes."""
    labels = np.where(mask, np.arange(1, mask.size + 1).reshape(mask.shape), 0)
    while True:
        spread = _grow_max(labels)
        spread[~mask] = 0
        if np.array_equal(spread, labels):
            break
        labels = spread
    _, dense = np.unique(labels, return_inverse=True)  # 0 stays 0: it is the smallest
    return dense.reshape(mask.shape)


def _grow_max(labels: NDArray[np.intp]) -> NDArray[np.intp]:
    """Each cell the largest value among itself and its 8 neighbours."""
    padded = np.pad(labels, 1)
    h, w = labels.shape
    out = labels.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            np.maximum(out, padded[dy : dy + h, dx : dx + w], out=out)
    return out


def _area(n: int, size: int) -> NDArray[np.float32]:
    """(n, size) weights that resample `size` pixels to n by area: output pixel i averages the
    input over [i·size/n, (i+1)·size/n), each input pixel weighted by how much of it falls inside."""
    edges = np.arange(n + 1) * (size / n)
    start, stop = edges[:-1, None], edges[1:, None]  # (n, 1)
    pixel = np.arange(size)[None, :]  # (1, size)
    overlap = np.clip(np.minimum(stop, pixel + 1) - np.maximum(start, pixel), 0, None)  # (n, size)
    weights: NDArray[np.float32] = (overlap / (size / n)).astype(np.float32)
    return weights
