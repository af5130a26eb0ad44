"""A stage runs on devices without torch: nothing it imports may pull torch in."""

from __future__ import annotations

import subprocess
import sys


def test_stage_runtime_and_cli_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import edgesplit.cli.main, edgesplit.stages.runtime, edgesplit.orchestrator.graph\n"
        "import edgesplit.producers.stream, edgesplit.consumers.results, edgesplit.models.classes\n"
        "import edgesplit.models.zoo, edgesplit.models.assets, edgesplit.models.export\n"
        "import edgesplit.producers.sources, edgesplit.cli.models\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
