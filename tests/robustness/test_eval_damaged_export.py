"""mpt-eval pointed at an empty export folder, and at an export whose weights were cut short by one byte: one
message on stderr naming the file and what to do, exit code 2, no traceback."""

from __future__ import annotations

import torch

from mpt.config import compose_config
from mpt.engine.checkpoint import export_model
from tests.helpers import assert_clear_error, run_cli


def test_eval_of_an_empty_or_truncated_export(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli(["mpt.cli.evaluate", "device=cpu", f"checkpoint={empty}", f"paths.data_root={empty}",
                   f"paths.output_dir={tmp_path}/out"], tmp_path)  # fmt: skip
    assert_clear_error(res, f"{empty}/model.safetensors", "mpt-finetune")

    export = tmp_path / "export"
    cfg = compose_config("pretrain", [f"paths.output_dir={export}", "device=cpu"])
    export_model(torch.nn.Linear(3, 1), cfg, export)
    weights = export / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])  # a copy that stopped one byte short
    res = run_cli(["mpt.cli.evaluate", "device=cpu", f"checkpoint={export}", f"paths.data_root={empty}",
                   f"paths.output_dir={tmp_path}/out"], tmp_path)  # fmt: skip
    assert_clear_error(res, str(weights), "sha256", "copy it again")
