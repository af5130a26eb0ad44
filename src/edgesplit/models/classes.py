"""Readable class names for a model's logits, in class-index order. No torch here.

ImageNet-1k names come from timm's pinned synset lists (the first lemma of each synset,
e.g. "tabby" for n02123045); MNIST's are the digits.
"""

from __future__ import annotations

import functools
from pathlib import Path

from edgesplit.config import cache_dir
from edgesplit.errors import ConfigError
from edgesplit.models.assets import fetch_many

IMAGENET_CLASSES = 1000
KINDS = ("imagenet", "mnist")


def class_names(kind: str, cache: Path | None = None) -> list[str]:
    """Class names for `kind` ("imagenet" or "mnist"); assets cached under `cache`."""
    if kind == "mnist":
        return [str(digit) for digit in range(10)]
    if kind == "imagenet":
        return list(_imagenet(cache if cache is not None else cache_dir()))
    raise ConfigError(f"unknown class set {kind!r}; known: {', '.join(KINDS)}")


@functools.cache
def _imagenet(cache: Path) -> tuple[str, ...]:
    synsets_path, lemmas_path = fetch_many(["imagenet_synsets", "imagenet_lemmas"], cache)
    synsets = synsets_path.read_text(encoding="utf-8").split()
    lemmas: dict[str, str] = {}
    for line in lemmas_path.read_text(encoding="utf-8").splitlines():
        wnid, sep, words = line.partition("\t")
        if sep:
            lemmas[wnid] = words.split(",")[0].strip()
    if len(synsets) != IMAGENET_CLASSES or any(s not in lemmas for s in synsets):
        raise ConfigError(
            f"{synsets_path} does not list {IMAGENET_CLASSES} known synsets; delete "
            f"{synsets_path.parent} and run again"
        )
    return tuple(lemmas[s] for s in synsets)
