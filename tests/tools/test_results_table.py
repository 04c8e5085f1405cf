"""tools/results_table.py on eval.json / metrics.jsonl / config.yaml files written here in mpt's formats: the paper
numbers beside ours (checked against the experiment configs' header comments and hand-computed differences),
validation curves (resumed steps, torn lines), the PNG, and corrupt or missing files reported by name."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.results_table import PAPER, collect, main, read_val_curve

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = "Human3.6M protocol 2 (METRO): S9+S11, camera 60457274, every 5th frame; mm"


def _run(folder: Path, name: str, pretrain: bool, val: list[tuple[int, float, float]], extra: str = "") -> Path:
    """A training run folder: config.yaml (as the trainer writes it, resolved) and metrics.jsonl."""
    folder.mkdir(parents=True)
    data = ("data:\n  cache: /data/amass_cache\ncameras:\n  num_views: 8\n" if pretrain else
            "data:\n  val: {name: h36m_p2, tsv: /data/tsv/human3.6m, split: valid_protocol2}\n")  # fmt: skip
    (folder / "config.yaml").write_text(f"name: {name}\nseed: 88\ntrain:\n  max_val_samples: null\n{data}")
    lines = []
    for step, mpjpe, pa in val:
        lines.append(json.dumps({"kind": "train", "step": step, "time": 0.0, "loss": 1.0, "lr": 1e-4}))
        lines.append(json.dumps({"kind": "val", "step": step, "time": 0.0, "mpjpe": mpjpe, "pa_mpjpe": pa}))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n" + extra)
    return folder


def _eval(folder: Path, checkpoint: Path, mpjpe: float, pa: float, count: int = 27558, pve: float | None = None,
          pretrain_only: bool = False, backbone: str = "higherhrnet_w48", set_name: str = "h36m_p2",
          rotation: float | None = None, protocol: str = PROTOCOL) -> Path:  # fmt: skip
    folder.mkdir(parents=True)
    metrics = {"mpjpe": mpjpe, "pa_mpjpe": pa, "count": count, **({"pve": pve} if pve is not None else {}),
               **({"rotation_error_deg": rotation} if rotation is not None else {})}  # fmt: skip
    (folder / "eval.json").write_text(json.dumps({
        "set": set_name, "split": "valid_protocol2", "protocol": protocol, "metrics": metrics,
        "checkpoint": str(checkpoint), "checkpoint_sha256": "0" * 64, "backbone": backbone,
        "pretrain_only": pretrain_only}, indent=2))  # fmt: skip
    return folder


@pytest.fixture()
def runs(tmp_path):
    out = tmp_path / "outputs"
    ft = _run(out / "finetune_mpt", "finetune_mpt", False, [(500, 80.0, 50.0), (1000, 60.0, 40.0)],
              # resumed after a kill: step 1000 logged again (the later line wins), then a torn last line
              extra=json.dumps({"kind": "val", "step": 1000, "mpjpe": 58.0, "pa_mpjpe": 39.0}) + "\n"
              + json.dumps({"kind": "val", "step": 1500, "mpjpe": 50.0, "pa_mpjpe": 35.0}) + "\n"
              + '{"kind": "val", "step": 2000, "mpj')  # fmt: skip
    pt = _run(out / "pretrain_views8", "pretrain_views8", True, [(100, 120.0, 70.0), (200, 100.0, 65.0)])
    scratch = _run(out / "finetune_scratch", "finetune_scratch", False, [(500, 90.0, 55.0)])
    evals = {
        "ft": _eval(out / "eval_ft", ft, 47.12, 31.52, pve=60.0, rotation=7.26),
        "pt": _eval(out / "eval_pt", pt, 90.04, 57.96, pretrain_only=True),
        "scratch": _eval(out / "eval_scratch", scratch, 52.0, 35.0),
        # evaluated from a run folder that has been moved away: the experiment comes from the folder name
        "moved": _eval(out / "eval_moved", tmp_path / "elsewhere" / "finetune_hm112", 48.0, 33.0),
    }
    corrupt = out / "eval_corrupt"
    corrupt.mkdir()
    (corrupt / "eval.json").write_text('{"set": "h36m_p2", "metrics": {"mpjpe": 4')  # truncated write
    no_metrics = out / "eval_nometrics"
    no_metrics.mkdir()
    (no_metrics / "eval.json").write_text(json.dumps({"set": "h36m_p2", "metrics": {"mpjpe": 50.0}}))
    empty = out / "empty"
    empty.mkdir()
    return {
        "ft": ft,
        "pt": pt,
        "scratch": scratch,
        **{f"eval_{k}": v for k, v in evals.items()},
        "corrupt": corrupt,
        "no_metrics": no_metrics,
        "empty": empty,
        "missing": out / "missing",
    }


def _table_rows(markdown: str) -> dict[str, list[str]]:
    """The first table's rows, keyed by experiment."""
    section = markdown.split("## Last validation")[0]
    rows = [
        line
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith(("| experiment", "| ---"))
    ]
    return {cells[0]: cells for cells in ([c.strip() for c in r.strip("|").split("|")] for r in rows)}


def test_paper_numbers_match_the_experiment_config_headers():
    for name, paper in PAPER.items():
        header = "\n".join(line for line in (ROOT / "configs" / "experiment" / f"{name}.yaml").read_text().splitlines()
                           if line.startswith("#"))  # fmt: skip
        assert f"{paper.mpjpe} / {paper.pa_mpjpe}" in header, name


def test_table_puts_paper_numbers_beside_ours(runs, tmp_path, capsys):
    out_md, out_png = tmp_path / "results.md", tmp_path / "curves.png"
    args = [str(p) for p in runs.values()] + ["--out", str(out_md), "--plot", str(out_png)]
    assert main(args) == 0
    captured = capsys.readouterr()
    md = out_md.read_text()
    assert md in captured.out
    rows = _table_rows(md)
    assert set(rows) == {"finetune_mpt", "pretrain_views8", "finetune_scratch", "finetune_hm112"}
    # columns: experiment, paper, MPJPE paper, ours, delta, PA paper, ours, delta, PVE, rotation error, samples, set,
    # pose network, result
    ft = rows["finetune_mpt"]
    assert ft[1].startswith("Table 1") and ft[2:10] == ["45.3", "47.1", "+1.8", "31.7", "31.5", "-0.2", "60.0", "7.3"]
    assert ft[10:] == ["27558", "h36m_p2", "higherhrnet_w48", str(runs["eval_ft"] / "eval.json")]
    assert rows["pretrain_views8"][9] == "—"  # an eval.json without the rotation error (earlier versions)
    pt = rows["pretrain_views8"]
    assert pt[1].startswith("Table 2") and "pre-trained only" in pt[1]
    assert pt[2:8] == ["88.3", "90.0", "+1.7", "58.2", "58.0", "-0.2"]
    assert rows["finetune_hm112"][2:5] == ["46.5", "48.0", "+1.5"]
    assert rows["finetune_scratch"][1] == "no paper number" and rows["finetune_scratch"][4] == "—"
    # rows follow the paper's tables: Table 1, Table 2, Table 3, then experiments without a paper number
    order = [r for r in rows]
    assert order == ["finetune_mpt", "pretrain_views8", "finetune_hm112", "finetune_scratch"]
    assert f"Protocol: {PROTOCOL}" in md and "54.0 / 36.7" in md

    # every bad input named on stderr, nothing else fails
    err = captured.err
    for key in ("corrupt", "no_metrics"):
        assert str(runs[key] / "eval.json") in err
    assert str(runs["empty"]) in err and str(runs["missing"]) in err
    assert f"{runs['ft'] / 'metrics.jsonl'}: 1 unreadable line(s) skipped" in err

    # last validation: resumed step 1000 replaced, torn line dropped; pre-training says what it validated on
    last = {c[1]: c for c in ([x.strip() for x in r.strip("|").split("|")] for r in
            md.split("## Last validation")[1].splitlines() if r.startswith("| /"))}  # fmt: skip
    assert last["finetune_mpt"][3:] == ["1500", "50.0", "35.0"]
    assert "AMASS" in last["pretrain_views8"][2] and last["pretrain_views8"][3:] == ["200", "100.0", "65.0"]
    assert last["finetune_mpt"][2].startswith("h36m_p2")

    img = cv2.imread(str(out_png))
    assert img is not None and img.shape[0] >= 300 and img.shape[1] >= 800
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 10  # axes, lines and text, not a blank canvas
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic writes leave no temp files


def test_val_curve_keeps_the_last_value_of_a_repeated_step(runs):
    curve, bad = read_val_curve(runs["ft"])
    assert (curve.steps, curve.mpjpe, curve.pa_mpjpe, bad) == ([500, 1000, 1500], [80.0, 58.0, 50.0],
                                                               [50.0, 39.0, 35.0], 1)  # fmt: skip
    assert curve.experiment == "finetune_mpt"


def test_eval_json_given_as_a_file_and_a_run_without_config(tmp_path):
    run = tmp_path / "my_run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"kind": "val", "step": 3, "mpjpe": 1.0, "pa_mpjpe": 2.0}) + "\n")
    ev = _eval(tmp_path / "ev", run, 70.0, 40.0)
    got = collect([ev / "eval.json", run])
    assert [e.experiment for e in got.evals] == ["my_run"] and got.evals[0].mpjpe == 70.0
    assert got.curves[0].validated_on.startswith("unknown") and not got.problems


def test_cli_with_only_bad_inputs_exits_2_naming_them(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "eval.json").write_bytes(b"\x00\xff not json")
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "results_table.py"), str(bad), str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert re.search(re.escape(str(bad / "eval.json")) + r": not readable JSON", res.stderr)
    assert str(tmp_path / "nope") in res.stderr and "no usable" in res.stderr


def test_rows_are_keyed_by_experiment_set_and_pose_network(runs, tmp_path):
    """The same fine-tuned run evaluated behind another pose network, and on another set: rows of their own, and
    the paper's number only beside the paper's pose network on the paper's set."""
    other = _eval(tmp_path / "eval_ft_r101", runs["ft"], 49.0, 33.0, backbone="simplebaseline_r101")
    pw3d = _eval(tmp_path / "eval_ft_3dpw", runs["ft"], 80.0, 50.0, set_name="3dpw_test")
    md = main_markdown([runs["eval_ft"], other, pw3d])
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.split("## Last validation")[0].splitlines()
            if line.startswith("| finetune_mpt")]  # fmt: skip
    by_key = {(r[0], r[11], r[12]): r for r in rows}
    assert len(rows) == 3 and set(by_key) == {("finetune_mpt", "h36m_p2", "higherhrnet_w48"),
                                               ("finetune_mpt", "h36m_p2", "simplebaseline_r101"),
                                               ("finetune_mpt", "3dpw_test", "higherhrnet_w48")}  # fmt: skip
    assert by_key[("finetune_mpt", "h36m_p2", "higherhrnet_w48")][2:5] == ["45.3", "47.1", "+1.8"]
    for key in (("finetune_mpt", "h36m_p2", "simplebaseline_r101"), ("finetune_mpt", "3dpw_test", "higherhrnet_w48")):
        row = by_key[key]
        assert row[1] == "no paper number (the paper's row is h36m_p2 behind higherhrnet_w48)" and row[2] == "—"
        assert row[4] == "—"


def main_markdown(paths) -> str:
    from tools.results_table import markdown

    return markdown(collect(paths))


def test_a_3dpw_result_stands_beside_metros_3dpw_numbers_not_the_papers_h36m_ones(tmp_path, capsys):
    """The same experiment evaluated on Human3.6M and on 3DPW: only the Human3.6M row gets the paper's Table 1
    numbers; the 3DPW row shows its PVE, and METRO's 3DPW numbers (docs/EXP.md) are printed under the table. Two
    sets with their own protocols are no warning; one set measured under two protocols is."""
    ft = _run(tmp_path / "finetune_mpt", "finetune_mpt", False, [(500, 80.0, 50.0)])
    pw3d = "3DPW test set (METRO 3dpw/test_has_gender); ...; PVE against the neutral model; mm"
    h36m = _eval(tmp_path / "eval_h36m", ft, 47.0, 31.0)
    pw = _eval(tmp_path / "eval_3dpw", ft, 80.0, 50.0, count=35515, pve=90.0, rotation=12.0, set_name="3dpw_test",
               protocol=pw3d)  # fmt: skip
    assert main([str(h36m), str(pw)]) == 0
    md = capsys.readouterr().out
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.split("## Last validation")[0].splitlines()
            if line.startswith("| finetune_mpt")]  # fmt: skip
    by_set = {("3dpw" if r[11] == "3dpw_test" else "h36m"): r for r in rows}
    assert by_set["h36m"][1].startswith("Table 1") and by_set["h36m"][2] == "45.3"
    assert by_set["3dpw"][1] == "no paper number (the paper's row is h36m_p2 behind higherhrnet_w48)"
    assert by_set["3dpw"][2:10] == ["—", "80.0", "—", "—", "50.0", "—", "90.0", "12.0"]
    assert "PVE 88.28, MPJPE 77.10, PA-MPJPE 47.90 mm" in md and f"Protocol: {pw3d}" in md
    assert "different protocols" not in md
    other = _eval(tmp_path / "eval_3dpw_gendered", ft, 80.0, 50.0, set_name="3dpw_test", protocol=pw3d + " (other)")
    assert main([str(h36m), str(pw), str(other)]) == 0
    assert "results on 3dpw_test were measured with different protocols" in capsys.readouterr().out
