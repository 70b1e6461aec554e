"""Reading any dataset image as 8-bit RGB, with errors that name the file."""

from __future__ import annotations

import numpy as np
from PIL import Image

HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


class ImageReadError(OSError):
    """An image file that exists but cannot be decoded."""


def _stretch_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float images: linearly map the image's own value range onto 0-255."""
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(np.round((values - low) * scale).astype(np.uint8), mode="L")


def load_rgb(path: str) -> Image.Image:
    """Decode an image as RGB: grayscale is replicated, high-bit-depth is stretched to 8 bits."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in HIGH_BIT_MODES:
                image = _stretch_to_8bit(image)
            return image.convert("RGB")
    except FileNotFoundError as error:
        raise ImageReadError(
            f"image {path} does not exist. Restore it, or download the dataset again "
            "(python -m datasets.download NAME --root ROOT)."
        ) from error
    except Exception as error:
        raise ImageReadError(
            f"cannot decode image {path} ({type(error).__name__}: {error}). Replace or remove the file "
            "(and its entry in the split file)."
        ) from error
