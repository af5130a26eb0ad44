"""Sensor sources: real photos, real digits, an image folder and noise, as uint8 frames."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesplit.config import cache_dir
from edgesplit.errors import ConfigError
from edgesplit.producers.sources import (
    folder,
    mnist,
    photos,
    resize_center_crop,
    synthetic,
)


@pytest.fixture(scope="module")
def cache() -> Path:
    return cache_dir()


def test_photos_are_camera_frames(cache: Path) -> None:
    samples = list(photos(14, cache=cache))
    assert len(samples) == 14
    for s in samples:
        assert s.array.shape == (224, 224, 3)
        assert s.array.dtype == np.uint8
        assert s.label is None
        assert s.source.startswith("photo:")
    assert len({s.source for s in samples}) >= 7  # every photo takes its turn
    small = next(photos(1, size=64, cache=cache))
    assert small.array.shape == (64, 64, 3)


def test_photos_are_deterministic_per_seed_and_distinct(cache: Path) -> None:
    a = [s.array for s in photos(40, seed=1, cache=cache)]
    b = [s.array for s in photos(40, seed=1, cache=cache)]
    c = [s.array for s in photos(40, seed=2, cache=cache)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert len({x.tobytes() for x in a}) == 40


def test_mnist_gives_the_5000_real_digits_with_labels(cache: Path) -> None:
    samples = list(mnist(None, cache))
    assert len(samples) == 5000
    assert all(s.array.shape == (28, 28) and s.array.dtype == np.uint8 for s in samples)
    labels = Counter(s.label for s in samples)
    assert labels == dict.fromkeys(range(10), 500)
    assert len({s.array.tobytes() for s in samples}) == 5000
    assert max(int(s.array.max()) for s in samples[:10]) > 200  # ink, not an empty frame


def test_mnist_order_is_the_file_unless_seeded_and_it_cycles(cache: Path) -> None:
    plain = list(mnist(5003, cache))
    assert [s.source for s in plain[:2]] == ["mnist:0", "mnist:1"]
    assert [s.source for s in plain[5000:]] == ["mnist:0", "mnist:1", "mnist:2"]
    seeded = [s.source for s in mnist(100, cache, seed=7)]
    assert seeded == [s.source for s in mnist(100, cache, seed=7)]
    assert seeded != [s.source for s in plain[:100]]
    assert len({s.label for s in mnist(50, cache, seed=7)}) > 5


def test_folder_resizes_and_centre_crops_every_image(tmp_path: Path) -> None:
    Image.new("RGB", (640, 480), (255, 0, 0)).save(tmp_path / "a.jpg")
    Image.new("L", (100, 300), 128).save(tmp_path / "b.png")
    Image.new("RGBA", (300, 300), (0, 0, 255, 255)).save(tmp_path / "c.webp")
    (tmp_path / "notes.txt").write_text("not an image")
    samples = list(folder(tmp_path, size=224))
    assert [Path(s.source.removeprefix("file:")).name for s in samples] == [
        "a.jpg",
        "b.png",
        "c.webp",
    ]
    assert all(s.array.shape == (224, 224, 3) and s.array.dtype == np.uint8 for s in samples)
    assert tuple(samples[1].array[112, 112]) == (128, 128, 128)
    assert len(list(folder(tmp_path, count=7))) == 7


def test_folder_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        folder(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"no images \(jpg, jpeg, png, bmp, webp\)"):
        folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match="not a readable image"):
        next(folder(tmp_path))


def test_resize_center_crop_keeps_the_middle() -> None:
    image = Image.new("RGB", (512, 256), (0, 0, 0))
    image.paste((255, 255, 255), (192, 64, 320, 192))  # a white square in the middle
    out = resize_center_crop(image, 224)
    assert out.shape == (224, 224, 3)
    assert out[112, 112].tolist() == [255, 255, 255]
    assert out[112, 0].tolist() == [0, 0, 0]


def test_synthetic_frames_are_random_and_reproducible() -> None:
    a = [s.array for s in synthetic((28, 28), "uint8", count=5, seed=3)]
    b = [s.array for s in synthetic((28, 28), "uint8", count=5, seed=3)]
    assert all(x.shape == (28, 28) and x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len({x.tobytes() for x in a}) == 5
    endless = synthetic((2,), count=None)
    assert len([next(endless) for _ in range(100)]) == 100
    with pytest.raises(ConfigError, match="uint8 or float"):
        synthetic((2,), "int32", count=1)
    with pytest.raises(ConfigError, match="count must be 0 or more"):
        photos(-1, cache=cache_dir())
