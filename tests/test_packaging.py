"""Packaging: every package is listed in pyproject (configs included) and a wheel carries the config tree."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mpt").rglob("__init__.py")}
    assert found | {"mpt.configs"} == listed


def test_constraints_pin_torch():
    text = (ROOT / "constraints.txt").read_text().split()
    assert "torch==2.14.1" in text and "torchvision==0.29.1" in text


@pytest.mark.slow
def test_wheel_carries_configs(tmp_path):
    # --no-build-isolation: build with the installed setuptools instead of fetching it, as CI may have no package
    # index; --no-index makes sure nothing is fetched.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--quiet", "-w", str(tmp_path), str(ROOT)], check=True, timeout=300)  # fmt: skip
    (wheel,) = tmp_path.glob("mpt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ("pretrain.yaml", "finetune.yaml", "eval.yaml", "model/mpt.yaml", "cameras/h36m8.yaml"):
        assert f"mpt/configs/{rel}" in names
    assert "mpt/cli/pretrain.py" in names
