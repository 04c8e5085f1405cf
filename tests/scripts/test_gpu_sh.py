"""scripts/bench/gpu.sh's CPU smoke (the command in its header): every step runs, every check line is PASS or SKIP,
and a stopped run still prints its summary. The whole smoke is too long for the suite (its correctness checks alone
took 22 minutes on 2 busy cores; the whole script 6-7 minutes on 2 quiet ones), so it runs when
MPT_GPU_SH_SMOKE=1 (e.g. before a device call: MPT_GPU_SH_SMOKE=1 pytest -n 0 tests/scripts/test_gpu_sh.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = {"PT_MODEL": "tiny", "PT_INPUT": "heatmap56", "PT_BATCH": "4", "PT_STEPS": "4", "SYN_BATCH": "8",
         "SYN_SIZE": "56", "FT_MODEL": "tiny", "FT_INPUT": "heatmap56", "FT_BACKBONE": "higherhrnet_w32",
         "FT_BATCH": "2", "FT_STEPS": "4", "FT_WORKERS": "0", "FT_PRECISION": "zero0",
         "STEP_LIMIT": "900"}  # fmt: skip


def _gpu_sh(work: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("OUT", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    environ.update(PYTHON=sys.executable, WORK=str(work), **SMOKE, **env)
    return subprocess.run(["bash", str(ROOT / "scripts" / "bench" / "gpu.sh"), "--device", "cpu", *args], env=environ,
                          capture_output=True, text=True, timeout=3600)  # fmt: skip


def _summary(out: str) -> list[str]:
    return out.split("== summary")[-1].splitlines()[1:]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("MPT_GPU_SH_SMOKE") != "1", reason="over 20 minutes: set MPT_GPU_SH_SMOKE=1")
def test_cpu_smoke_prints_only_pass_or_skip(tmp_path):
    res = _gpu_sh(tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    summary = _summary(res.stdout)
    checks = [line for line in summary if re.match(r"^(PASS|FAIL|SKIP) ", line)]
    names = [line.split(":")[0].split(" ", 1)[1] for line in checks]
    assert names == ["synthesis", "pretrain fp32", "pretrain bf16", "pretrain fp16", "resume", "fused adam",
                     "cuda tests"], summary  # fmt: skip
    assert all(line.startswith(("PASS ", "SKIP ")) for line in checks), checks
    assert not any("FAIL" in line for line in summary), summary
    assert any(line.startswith("fine-tuning zero0") and "samples/s" in line for line in summary), summary


def test_a_stopped_run_still_prints_its_summary(tmp_path):
    """A step that fails before the checks (no demo assets tool here) ends the script; the EXIT trap prints the
    summary with the failure in it (a device call's time limit ends the script the same way)."""
    fake = tmp_path / "repo"
    (fake / "scripts" / "bench").mkdir(parents=True)
    (fake / "scripts" / "bench" / "gpu.sh").write_text((ROOT / "scripts" / "bench" / "gpu.sh").read_text())
    (fake / "tools" / "standin").mkdir(parents=True)
    (fake / "tools" / "standin" / "make_assets.py").write_text("import sys; print('assets: stopping'); sys.exit(3)\n")
    environ = {k: v for k, v in os.environ.items() if k not in ("OUT", "PYTHONPATH")}  # mpt: the installed package
    environ.update(PYTHON=sys.executable, WORK=str(tmp_path / "work"))
    res = subprocess.run(["bash", str(fake / "scripts" / "bench" / "gpu.sh"), "--checks", "--device", "cpu"],
                         env=environ, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert res.returncode != 0
    summary = _summary(res.stdout)
    assert any(line.startswith("FAIL assets: exit 3") for line in summary), res.stdout[-2000:] + res.stderr[-1000:]
    assert (tmp_path / "work" / "logs" / "summary.txt").is_file()
