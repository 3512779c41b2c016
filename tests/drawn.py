"""Digits drawn with a pen, not taken from MNIST: thick dark strokes on light paper, off-centre.

Each digit is a few strokes in a unit box (x to the right, y down), drawn with rounded joints onto
a larger canvas. `python -m tests.drawn FOLDER` writes them as PNGs to look at, or to feed to
`digits predict`.
"""

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw


def arc(cx, cy, rx, ry, start, stop, steps=24):
    """Points on an ellipse from angle start to stop (degrees, 0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in (start + (stop - start) * i / steps for i in range(steps + 1))
    ]


STROKES = {
    0: [arc(0.5, 0.5, 0.3, 0.45, 0, 360)],
    1: [[(0.35, 0.2), (0.55, 0.05), (0.55, 0.95)]],
    2: [arc(0.5, 0.3, 0.3, 0.25, 190, 360) + arc(0.5, 0.3, 0.3, 0.25, 0, 50) + [(0.15, 0.95), (0.85, 0.95)]],
    3: [arc(0.5, 0.28, 0.28, 0.23, 200, 450), arc(0.5, 0.73, 0.32, 0.23, 270, 520)],
    4: [[(0.6, 0.05), (0.1, 0.65), (0.85, 0.65)], [(0.65, 0.3), (0.65, 0.95)]],
    5: [[(0.8, 0.05), (0.3, 0.05), (0.25, 0.45), *arc(0.5, 0.68, 0.32, 0.27, 240, 520)]],
    6: [[(0.7, 0.05), (0.35, 0.4), *arc(0.5, 0.7, 0.3, 0.25, 200, 560)]],
    7: [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
    8: [arc(0.5, 0.27, 0.25, 0.22, 90, 450), arc(0.5, 0.72, 0.3, 0.23, -90, 270)],
    9: [arc(0.5, 0.3, 0.28, 0.25, 0, 360), [(0.78, 0.3), (0.7, 0.95)]],
}


def draw(digit, size=160, width=22, offset=(30, 10), canvas=(240, 220), slant=0.15):
    """The digit as a greyscale PIL image: dark ink (40) on light paper (235), off-centre and slanted."""
    image = Image.new("L", canvas, 235)
    pen = ImageDraw.Draw(image)
    for stroke in STROKES[digit]:
        points = [(offset[0] + size * (x + slant * (1 - y)) * 0.8, offset[1] + size * y) for x, y in stroke]
        pen.line(points, fill=40, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round caps
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=40)
    return image


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for digit in STROKES:
        draw(digit).save(folder / f"{digit}.png")


def typed(digit, size=150, canvas=(240, 220), offset=(50, 15)):
    """The digit typed in Pillow's own font (no system font needed), dark (40) on light paper (235)."""
    from PIL import ImageFont

    image = Image.new("L", canvas, 235)
    ImageDraw.Draw(image).text(offset, str(digit), fill=40, font=ImageFont.load_default(size=size))
    return image


def photographed(image, seed, light=0.5, noise=6.0, specks=4):
    """image as a phone would take it of paper under a lamp: light falling off by up to `light`
    of its brightness from one side to the other and towards the corners, Gaussian sensor noise of
    `noise` grey levels, and a few specks of dust on the paper away from the digit."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, np.float64)
    h, w = pixels.shape
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    angle = rng.uniform(0, 2 * math.pi)
    slope = (x - 0.5) * math.cos(angle) + (y - 0.5) * math.sin(angle)  # -0.7..0.7
    vignette = (x - 0.5) ** 2 + (y - 0.5) ** 2
    lit = pixels * (1 - light * (slope + 0.7) / 1.4 - 0.4 * light * vignette)
    ink = pixels < 128
    for _ in range(specks):
        while True:  # a speck where there is paper in a wide square around it
            cy, cx = rng.integers(4, h - 4), rng.integers(4, w - 4)
            if not ink[max(cy - 12, 0) : cy + 12, max(cx - 12, 0) : cx + 12].any():
                break
        r = rng.uniform(1.0, 2.5)
        lit[(np.mgrid[0:h, 0:w][0] - cy) ** 2 + (np.mgrid[0:h, 0:w][1] - cx) ** 2 <= r * r] *= 0.35
    noisy = lit + rng.normal(0, noise, lit.shape)
    return Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8))


def phone_frame(digit, seed, height=160, shape=(2000, 3000), noise=5.0, light=0.15, vignette=0.3):
    """A phone's photo of a digit typed on grey paper: a frame of shape (rows, columns) with the
    digit about `height` pixels tall somewhere in its middle half, the paper evenly lit but for a
    gentle slope of `light` and darker corners (`vignette`), and sensor noise of `noise` grey levels."""
    import numpy as np
    from PIL import ImageFont

    rng = np.random.default_rng(seed)
    rows, columns = shape
    font = ImageFont.load_default(size=round(height * 1.35))  # a digit's ink is about 0.74 of the size
    glyph = Image.new("L", (height * 2, height * 2), 0)
    ImageDraw.Draw(glyph).text((height // 4, 0), str(digit), fill=255, font=font)
    ink = np.asarray(glyph.crop(glyph.getbbox()), np.float64) / 255
    h, w = ink.shape
    top = rng.integers(rows // 4, 3 * rows // 4 - h)
    left = rng.integers(columns // 4, 3 * columns // 4 - w)
    paper, dark = rng.uniform(150, 190), rng.uniform(20, 60)
    pixels = np.full(shape, paper)
    pixels[top : top + h, left : left + w] -= ink * (paper - dark)
    y, x = np.ogrid[0:rows, 0:columns]
    y, x = y / rows - 0.5, x / columns - 0.5
    angle = rng.uniform(0, 2 * math.pi)
    lit = 1 - light * (x * math.cos(angle) + y * math.sin(angle) + 0.7) / 1.4 - vignette * (x * x + y * y)
    noisy = pixels * lit + rng.normal(0, noise, shape)
    return Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
