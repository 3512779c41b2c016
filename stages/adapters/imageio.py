"""Images in and out, through Pillow (imported only when an image is read or written)."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from stages.adapters.common import Failure, one_line, regular_file

MAX_PIXELS = 200_000_000  # phones shoot 50 to 200 megapixels; more is a decompression bomb
READ_PIXELS = 12_000_000  # larger pictures are read at a reduced size: a digit needs far fewer


def read_gray(path: Path) -> NDArray[np.uint8]:
    """The image at path as (height, width) greyscale, 0 black; transparency is laid on white paper.

    A picture of more than READ_PIXELS is read reduced by a whole factor: a JPEG decodes at a
    half, quarter or eighth of its size (its draft mode, which never holds the full image), any
    other picture is reduced after decoding.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if regular_file(path).stat().st_size == 0:
        raise Failure(f"{path}: an empty file, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS decides
            bomb, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_PIXELS
            try:
                opened = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = bomb
        with opened:
            width, height = opened.size  # from the header: nothing is decoded yet
            if width * height > MAX_PIXELS:
                raise Failure(
                    f"{path}: {width}x{height} pixels, more than the {MAX_PIXELS // 10**6} million read "
                    "here: scale the picture down (one digit needs no more than a few hundred pixels a side)"
                )
            if width * height > READ_PIXELS:
                shrink = (READ_PIXELS / (width * height)) ** 0.5
                opened.draft("L", (int(width * shrink), int(height * shrink)))  # JPEG only; else a no-op
            image = ImageOps.exif_transpose(opened)  # photos: the way the camera was held
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                paper = Image.new("RGBA", image.size, "white")
                image = Image.alpha_composite(paper, image.convert("RGBA"))
            image = image.convert("L")
            factor = math.ceil((image.width * image.height / READ_PIXELS) ** 0.5)
            if factor > 1:
                image = image.reduce(factor)  # each pixel the mean of factor × factor
            gray = np.asarray(image, np.uint8)
    except UnidentifiedImageError:
        raise Failure(f"{path}: not an image Pillow can read (expected PNG, JPEG, BMP, GIF, ...)") from None
    except Image.DecompressionBombError as error:  # a frame of an animation, say, beyond the header's
        raise Failure(f"{path}: too many pixels to read ({error})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:  # truncated or corrupt image data
        raise Failure(f"{path}: a damaged image ({one_line(error)})") from None
    return gray


def png_bytes(gray: NDArray[np.uint8]) -> bytes:
    """A (height, width) uint8 array as the bytes of a greyscale PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(gray)).save(buffer, format="PNG")
    return buffer.getvalue()


def mistakes_png(digits: NDArray[np.uint8], captions: list[str], title: str, columns: int = 8) -> bytes:
    """Digits (n, 28, 28), ink bright, drawn dark on white at 3× with a caption under each, as PNG."""
    from PIL import Image, ImageDraw, ImageFont

    scale, caption_height, pad, title_height = 3, 34, 10, 34
    cell_w, cell_h = 28 * scale + 2 * pad, 28 * scale + caption_height
    rows = max(1, -(-len(digits) // columns))
    width = max(columns, 1) * cell_w + pad
    sheet = Image.new("L", (width, title_height + rows * cell_h + pad), 255)
    pen = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    pen.text((pad, 8), title, fill=0, font=font)
    for i, (digit, caption) in enumerate(zip(digits, captions, strict=True)):
        x = pad + (i % columns) * cell_w
        y = title_height + (i // columns) * cell_h
        picture = Image.fromarray(255 - digit).resize((28 * scale, 28 * scale), Image.Resampling.NEAREST)
        sheet.paste(picture, (x + pad // 2, y))
        pen.rectangle([x + pad // 2, y, x + pad // 2 + 28 * scale - 1, y + 28 * scale - 1], outline=160)
        for line, text in enumerate(caption.split("\n")):
            pen.text((x + pad // 2, y + 28 * scale + 2 + 15 * line), text, fill=0, font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
