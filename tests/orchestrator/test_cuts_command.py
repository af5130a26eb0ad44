"""`edgesplit cuts MODEL [--all] [--json]` as a user runs it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from edgesplit.cli.main import app
from edgesplit.errors import PlanningError
from tests.orchestrator.conftest import Exported

runner = CliRunner()


def test_table_lists_single_tensor_cuts_and_the_model_io(exported: dict[str, Exported]) -> None:
    model = exported["chain"]
    res = runner.invoke(app, ["cuts", str(model.path)])
    assert res.exit_code == 0, res.output
    assert "model input: frame uint8 N x 28x28 (784 bytes per frame)" in res.output
    assert "model output: logits float32 N x 10" in res.output
    assert "Reshape" in res.output
    assert "14 of 14 valid cuts shown" in res.output


def test_json_has_one_object_per_cut(exported: dict[str, Exported]) -> None:
    model = exported["residual"]
    res = runner.invoke(app, ["cuts", str(model.path), "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    singles = [c for c in model.graph.cuts() if c.single]
    assert [r["index"] for r in rows] == [c.index for c in singles]
    first = rows[0]
    assert first == {
        "index": 1,
        "after_node": "/Cast",
        "op_type": "Cast",
        "tensors": [
            {
                "name": "/Cast_output_0",
                "dtype": "float32",
                "shape": [32, 32, 3],
                "bytes_per_frame": 4 * 32 * 32 * 3,
            }
        ],
        "bytes_per_frame": 4 * 32 * 32 * 3,
        "single": True,
    }


def test_all_adds_the_cuts_that_several_tensors_cross(exported: dict[str, Exported]) -> None:
    model = exported["residual"]
    res = runner.invoke(app, ["cuts", str(model.path), "--all", "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert len(rows) == len(model.graph.cuts())
    assert any(not r["single"] and len(r["tensors"]) == 2 for r in rows)
    table = runner.invoke(app, ["cuts", str(model.path)])
    assert f"--all adds {len(rows) - len([r for r in rows if r['single']])}" in table.output


def test_a_missing_file_is_a_planning_error() -> None:
    res = runner.invoke(app, ["cuts", "/no/such/model.onnx"])
    assert isinstance(res.exception, PlanningError)
    assert "no ONNX model at /no/such/model.onnx" in str(res.exception)
