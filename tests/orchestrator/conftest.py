"""The small test models, exported once per session, with their reference sessions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
import pytest

from edgesplit.orchestrator.graph import ModelGraph
from tests.orchestrator.models import MODELS, export
from tests.orchestrator.pipeline import session


@dataclass(frozen=True)
class Exported:
    name: str
    path: Path
    graph: ModelGraph
    reference: ort.InferenceSession


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exported]:
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for name in MODELS:
        path = export(name, folder / f"{name}.onnx")
        out[name] = Exported(name, path, ModelGraph.load(path), session(str(path)))
    return out
