"""JPEG for camera frames: uint8 images (H, W) or (H, W, 1|3), lossy, decoded by Pillow.

A frame sent from the edge as JPEG is typically 10x smaller than its raw bytes; the
cloud-only strategy uses it. Decoding checks the image size in the JPEG header against
the declared shape before decoding a pixel.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError


def is_image(dtype: str, shape: tuple[int, ...] | list[int]) -> bool:
    return dtype == "uint8" and (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3)))


def encode(array: np.ndarray[Any, Any], quality: int) -> bytes:
    pixels = array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decode(data: bytes, shape: list[int]) -> np.ndarray[Any, Any]:
    """The image in `data`; ValueError if it is not a JPEG of exactly `shape`."""
    height, width = shape[0], shape[1]
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
            if img.size != (width, height):
                raise ValueError(
                    f"JPEG is {img.size[0]}x{img.size[1]}, shape says {width}x{height}"
                )
            color = len(shape) == 3 and shape[2] == 3
            pixels = np.asarray(img.convert("RGB" if color else "L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a readable JPEG ({exc})") from exc
    return pixels[..., None] if len(shape) == 3 and shape[2] == 1 else pixels
