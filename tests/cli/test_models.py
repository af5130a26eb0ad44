"""`edgesplit models`: list the zoo and export a model, as a user types them."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from edgesplit.cli.main import app
from edgesplit.errors import ConfigError

runner = CliRunner()


@pytest.mark.parametrize("command", [["models"], ["models", "list"], ["models", "export"]])
def test_models_commands_explain_themselves(command: list[str]) -> None:
    res = runner.invoke(app, [*command, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_models_list_shows_every_model_and_its_weights() -> None:
    res = runner.invoke(app, ["models", "list"], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    for name in ("mobilenet_v2", "mnist_cnn", "resnet18", "resnet50", "vgg16", "alexnet"):
        assert name in res.output
    assert "pretrained ImageNet" in res.output
    assert "pretrained MNIST" in res.output
    assert "uint8 224x224x3" in res.output


def test_models_export_writes_an_onnx_file(tmp_path: Path) -> None:
    out = tmp_path / "digits.onnx"
    res = runner.invoke(app, ["models", "export", "mnist_cnn", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "MB" in res.output
    assert " s)" in res.output
    assert out.name in res.output
    model = onnx.load(str(out))
    assert [i.name for i in model.graph.input] == ["frame"]


def test_models_export_of_an_unknown_model_is_a_config_error() -> None:
    res = runner.invoke(app, ["models", "export", "resnet9"])
    assert res.exit_code != 0
    assert isinstance(res.exception, ConfigError)
    assert "known models: mobilenet_v2" in str(res.exception)
