"""Tests of the demo-asset generator: formats, loadability, body geometry, regressors, motions, corpus sizes,
idempotency.

Checks use independent references: hand-typed SMPL facts (SMPL's pkl keys as vchoutas/smplx reads them, smplx's
landmark vertex ids), hashlib, pickle, smplx, trimesh and scipy rotations, and file hashes recorded from the
generator before the study size existed, never the generator's own helpers.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import trimesh
from scipy.spatial.transform import Rotation

import tools.standin.make_assets as gen
from tools.standin import body as standin_body
from tools.standin.body_mesh import marching_tetrahedra
from tools.standin.body_shape import BodyShape
from tools.standin.make_assets import (
    GENERATOR_VERSION,
    CorpusSize,
    DemoAssets,
    DemoAssetsError,
    MocapDataset,
    _is_current,
    _size_record,
    corpus_summary,
    main,
    make_demo_assets,
    motion_files,
    resolve_size,
)
from tools.standin.motions import make_sequence, subject_skeleton
from tools.standin.study_motions import Style, make_study_sequence

# SMPL facts typed from SMPL's files as smplx reads them (independent of the generator's constants).
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
LANDMARKS = {"nose": 332, "reye": 6260, "leye": 2800, "rear": 4071, "lear": 583, "LBigToe": 3216, "LSmallToe": 3226,
             "LHeel": 3387, "RBigToe": 6617, "RSmallToe": 6624, "RHeel": 6787, "lthumb": 2746, "lindex": 2319,
             "lmiddle": 2445, "lring": 2556, "lpinky": 2673, "rthumb": 6191, "rindex": 5782, "rmiddle": 5905,
             "rring": 6016, "rpinky": 6133}  # fmt: skip
AMASS_KEYS = {"poses", "trans", "betas", "gender", "mocap_framerate", "dmpls"}
# Human3.6M joint -> SMPL joint of the same body place (H36M order from METRO's H36M_J17_NAME).
H36M_TO_SMPL = {1: 2, 2: 5, 3: 8, 4: 1, 5: 4, 6: 7, 11: 16, 12: 18, 13: 20, 14: 17, 15: 19, 16: 21}
# The demo size's AMASS files for seed 0 (path under amass/, bytes, sha256), recorded from the generator as it was
# before corpus sizes existed (commit cefe497): the default size must keep writing exactly these.
DEMO_AMASS_FILES = [
    ("DemoMocapA/S01/shape.npz", 652, "01fa7bd19e56af3a156e688e1d83cf1d50fa47a5a30f5d1ebf4481c47ef6af4b"),
    ("DemoMocapA/S01/walk_01_poses.npz", 231440, "d92d3872b4860571b0e441327c455c0f78dc6ad50673eb36cb414ed2aaf8ae6d"),
    ("DemoMocapA/S01/squat_02_poses.npz", 490624, "99b5fabf734b98a646b1a8ba8986441af46de9486b4ee349291bd498bd7fc8b9"),
    ("DemoMocapA/S02/shape.npz", 660, "03d7fdd5ce6477c0e6602cdb0126abd8870d9b20c847046c2e9fe0e00a93fd6d"),
    ("DemoMocapA/S02/reach_01_poses.npz", 210072, "33eac800fb4b11f89e5b38902b02c3f08eb43d9268d047d0a84f355ea20a758a"),
    ("DemoMocapA/S02/bend_02_poses.npz", 268856, "c6a45305f8e6b381a197a3db4b5904b7ebb6dba51850059658c36935d346fb7e"),
    ("DemoMocapA/S03/shape.npz", 652, "8673f7a2cc18626b147c61fb8b2bc0fa1ccb291cc85b7fb63ab46d0f580a6df2"),
    ("DemoMocapA/S03/turn_01_poses.npz", 525360, "11e09da99b196ef0a70a584e54f6b1d2ab945b71b67778f4f59ef77fa7fa397b"),
    ("DemoMocapA/S03/walk_02_poses.npz", 382408, "d97b1e4589d2c1e17314e0502859254c65fe5aa67ee10c7666cc089644d147ac"),
    ("DemoMocapB/S04/shape.npz", 660, "dda0582fb291ea6df7b9f547bf0345c94c12230509cb80e07aa17e19d1729bbc"),
    ("DemoMocapB/S04/squat_01_poses.npz", 357032, "6f90b9eec64a6a0aa1add551e27fddab98060a50c608d7d5159b6731a4b3f08c"),
    ("DemoMocapB/S04/reach_02_poses.npz", 395776, "f3305aa5894186c0c96b53a7042b0c93ad14eceb8f61ba052cc0830f52cf1f66"),
    ("DemoMocapB/S05/shape.npz", 664, "6df0a8eaeddec410aa04ee4e6792b32c9605f587f2bb07c3c0d58eeb3ac5f858"),
    ("DemoMocapB/S05/bend_01_poses.npz", 212748, "b62ddf40c5b42332525a7d6c39f6c8eb38d9ffb103aeb43aacffd817de7c1017"),
    ("DemoMocapB/S05/turn_02_poses.npz", 446548, "6948baa7ba566eb6a661e9436c68b85bfd7fe1d5ee30eedc767be507ce554237"),
]
# The fifteen actions the study size promises, typed here (the generator names its files after them).
STUDY_ACTIONS = {"walk", "run", "jump", "kick", "wave", "sit", "lunge", "crouch", "throw", "stretch", "sway", "squat",
                 "reach", "bend", "turn"}  # fmt: skip
TRAVELLING = {"walk", "run", "sway", "jump"}  # the others stay in place


def _winding_number(points: np.ndarray, v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Generalised winding number of a closed outward-wound mesh around each point (1 inside, 0 outside), as the
    sum of the triangles' signed solid angles (Van Oosterom & Strackee) over 4 pi."""
    a, b, c = (v[f[:, k]][None] - points[:, None] for k in range(3))  # (P, F, 3)
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    det = np.einsum("pfk,pfk->pf", a, np.cross(b, c))
    den = la * lb * lc + (a * b).sum(-1) * lc + (b * c).sum(-1) * la + (c * a).sum(-1) * lb
    return (2 * np.arctan2(det, den)).sum(1) / (4 * np.pi)


def _load_pkl(assets, gender: str = "neutral") -> dict:
    with open(assets.smpl_dir / f"SMPL_{gender.upper()}.pkl", "rb") as f:
        return pickle.load(f, encoding="latin1")


@pytest.fixture(scope="module")
def neutral(demo_assets) -> dict:
    return _load_pkl(demo_assets)


@pytest.fixture(scope="module")
def smpl_layers(demo_assets) -> dict:
    import smplx

    return {g: smplx.create(model_path=str(demo_assets.root / "body_models"), model_type="smpl", gender=g)
            for g in ("neutral", "male", "female")}  # fmt: skip


def _read_motions(root: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted(root.rglob("*_poses.npz")):
        with np.load(path, allow_pickle=False) as z:
            out[path.relative_to(root).as_posix()] = {k: z[k] for k in z.files}
    return out


@pytest.fixture(scope="module")
def sequences(demo_assets) -> dict[str, dict[str, np.ndarray]]:
    return _read_motions(demo_assets.amass_dir)


@pytest.fixture(scope="module")
def fixture_body(demo_assets) -> standin_body.DemoBody:
    """The demo body read back from the session's files: what build_demo_body returns, without its 20 s."""
    d = _load_pkl(demo_assets)
    return standin_body.DemoBody(v_template=d["v_template"], faces=d["f"].astype(np.int64), weights=d["weights"],
                              joint_regressor=d["J_regressor"], shapedirs=d["shapedirs"], posedirs=d["posedirs"],
                              h36m_regressor=np.load(demo_assets.h36m_regressor))  # fmt: skip


def _small_study() -> CorpusSize:
    """The study size at scale 0.01 (one subject per dataset), three image-set subjects, 4-6 s sequences."""
    size = resolve_size("study", 0.01)
    return replace(size, seconds=(4.0, 6.0),
                   datasets=tuple(replace(d, subjects=3) if d.role == "images" else d for d in size.datasets))


@pytest.fixture(scope="module")
def study(fixture_body, tmp_path_factory) -> tuple[DemoAssets, CorpusSize]:
    """A reduced study corpus, generated by the same code as the full one."""
    size = _small_study()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gen, "build_demo_body", lambda: fixture_body)
        return make_demo_assets(tmp_path_factory.mktemp("study"), seed=0, size=size), size


@pytest.fixture(scope="module")
def study_sequences(study) -> dict[str, dict[str, np.ndarray]]:
    """Every motion of the reduced study corpus by path under its root (amass/... and image_motions/...)."""
    return _read_motions(study[0].root)


def _kinds(rel: str) -> list[str]:
    """The actions a study file is named after: <a>-<b>_<k>_poses.npz."""
    return Path(rel).name.split("_")[0].split("-")


# ---------------------------------------------------------------------------------------------------------------
# Layout, manifest, idempotency, determinism


def test_layout_and_manifest_hashes(demo_assets):
    root = demo_assets.root
    assert demo_assets.smpl_dir == root / "body_models" / "smpl"
    assert demo_assets.h36m_regressor == root / "body_models" / "J_regressor_h36m_correct.npy"
    assert demo_assets.amass_dir == root / "amass"
    manifest = json.loads((root / "demo_assets.json").read_text())
    assert manifest["seed"] == 0 and isinstance(manifest["version"], int)
    listed = {e["path"]: e for e in manifest["files"]}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"demo_assets.json"}
    assert set(listed) == on_disk
    for g in ("NEUTRAL", "MALE", "FEMALE"):
        assert f"body_models/smpl/SMPL_{g}.pkl" in listed
    for rel, entry in listed.items():
        data = (root / rel).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    datasets = {p.parts[1] for p in map(Path, listed) if p.parts[0] == "amass"}
    assert len(datasets) == 2
    subjects = {Path(p).parent for p in listed if p.startswith("amass/")}
    assert 4 <= len(subjects) <= 6
    assert all(f"{s.as_posix()}/shape.npz" in listed for s in subjects)


def test_rerun_writes_nothing(demo_assets):
    files = sorted(p for p in demo_assets.root.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in files}
    again = make_demo_assets(demo_assets.root, seed=0)
    assert again == demo_assets
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_same_seed_gives_identical_files(demo_assets, tmp_path):
    other = make_demo_assets(tmp_path / "copy", seed=0)
    ref = json.loads((demo_assets.root / "demo_assets.json").read_text())["files"]
    got = json.loads((other.root / "demo_assets.json").read_text())["files"]
    assert [(e["path"], e["sha256"]) for e in got] == [(e["path"], e["sha256"]) for e in ref]
    a, b = _load_pkl(demo_assets), _load_pkl(other)
    for key in ("v_template", "f", "weights", "posedirs", "shapedirs", "J"):
        assert np.array_equal(a[key], b[key]), key


def test_force_rewrites_current_files(demo_assets, fixture_body, tmp_path, monkeypatch):
    """force=True rebuilds even when the manifest is current. The body build is replaced by the body read back
    from the fixture's files (fast), which must reproduce the same arrays."""
    monkeypatch.setattr(gen, "build_demo_body", lambda: fixture_body)
    root = tmp_path / "forced"
    make_demo_assets(root, seed=0)
    target = root / "body_models" / "smpl" / "SMPL_MALE.pkl"
    old = target.stat().st_mtime_ns - 10**9
    os.utime(target, ns=(old, old))
    make_demo_assets(root, seed=0)
    assert target.stat().st_mtime_ns == old  # current: untouched
    make_demo_assets(root, seed=0, force=True)
    assert target.stat().st_mtime_ns != old  # forced: rewritten
    ref = json.loads((demo_assets.root / "demo_assets.json").read_text())["files"]
    got = json.loads((root / "demo_assets.json").read_text())["files"]
    assert [e["path"] for e in got] == [e["path"] for e in ref]
    assert [e for e in got if not e["path"].endswith(".pkl")] == [e for e in ref if not e["path"].endswith(".pkl")]
    rebuilt = _load_pkl(DemoAssets.at(root), "male")
    for key, value in _load_pkl(demo_assets, "male").items():  # same arrays (the pickle bytes of the
        other = rebuilt[key]  # round-tripped scipy matrix may differ)
        assert (value != other).nnz == 0 if sp.issparse(value) else np.array_equal(value, other), key


def test_manifest_is_stale_when_a_file_is_missing_or_seed_differs(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"1234")
    manifest = {"seed": 3, "version": GENERATOR_VERSION, "files": [{"path": "a.bin", "bytes": 4}]}
    assert _is_current(manifest, tmp_path, 3)
    assert not _is_current(manifest, tmp_path, 4)
    assert not _is_current({**manifest, "version": GENERATOR_VERSION + 1}, tmp_path, 3)
    (tmp_path / "a.bin").write_bytes(b"12")  # truncated
    assert not _is_current(manifest, tmp_path, 3)
    (tmp_path / "a.bin").unlink()
    assert not _is_current(manifest, tmp_path, 3)
    assert not _is_current(None, tmp_path, 3)


def test_manifest_of_another_size_or_scale_is_stale(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"1234")
    study = _size_record(resolve_size("study"))
    manifest = {"seed": 0, "version": GENERATOR_VERSION, "files": [{"path": "a.bin", "bytes": 4}]}
    assert _is_current(manifest, tmp_path, 0, None)  # a demo manifest (no "size") is current for the demo
    assert not _is_current(manifest, tmp_path, 0, study)
    assert _is_current({**manifest, "size": study}, tmp_path, 0, study)
    assert not _is_current({**manifest, "size": study}, tmp_path, 0, None)
    assert not _is_current({**manifest, "size": study}, tmp_path, 0, _size_record(resolve_size("study", 2.0)))


def test_out_path_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "not_a_dir"
    target.write_text("x")
    with pytest.raises(DemoAssetsError, match="not a folder"):
        make_demo_assets(target)
    assert main(["--out", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_bad_seed_is_a_clear_error(tmp_path, seed):
    with pytest.raises(DemoAssetsError, match="non-negative integer"):
        make_demo_assets(tmp_path, seed=seed)


def test_cli_reports_up_to_date(demo_assets, capsys):
    assert main(["--out", str(demo_assets.root), "--seed", "0"]) == 0
    assert "up to date" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------------
# SMPL pickles


@pytest.mark.parametrize("gender", ["neutral", "male", "female"])
def test_smpl_pickle_keys_dtypes_shapes(demo_assets, gender):
    d = _load_pkl(demo_assets, gender)
    expect = {"v_template": ((6890, 3), np.float64), "f": ((13776, 3), np.uint32), "weights": ((6890, 24), np.float64),
              "posedirs": ((6890, 3, 207), np.float64), "shapedirs": ((6890, 3, 10), np.float64),
              "kintree_table": ((2, 24), np.int64), "J": ((24, 3), np.float64)}  # fmt: skip
    for key, (shape, dtype) in expect.items():
        assert isinstance(d[key], np.ndarray) and d[key].shape == shape and d[key].dtype == dtype, key
    assert isinstance(d["J_regressor"], sp.csc_matrix)
    assert d["J_regressor"].shape == (24, 6890) and d["J_regressor"].dtype == np.float64
    assert d["kintree_table"][0, 0] == 4294967295
    assert d["kintree_table"][0, 1:].tolist() == PARENTS[1:]
    assert d["kintree_table"][1].tolist() == list(range(24))
    assert d["bs_style"] == "lbs" and d["bs_type"] == "lrotmin"
    assert all(type(v).__module__.split(".")[0] in ("numpy", "scipy", "builtins") for v in d.values())


def test_smplx_loads_every_gender_and_poses_a_batch(smpl_layers):
    torch.manual_seed(0)
    heights = {}
    for g, layer in smpl_layers.items():
        rest = layer().vertices[0].detach().numpy()
        heights[g] = rest[:, 1].max() - rest[:, 1].min()
        assert 1.55 < heights[g] < 1.85, (g, heights[g])
        out = layer(body_pose=0.3 * torch.randn(4, 69), global_orient=0.3 * torch.randn(4, 3),
                    betas=torch.randn(4, 10))  # fmt: skip
        assert out.vertices.shape == (4, 6890, 3) and torch.isfinite(out.vertices).all()
        assert out.joints.shape == (4, 45, 3)  # 24 joints + 21 landmark vertices picked by smplx's ids
    assert heights["male"] > heights["neutral"] > heights["female"]


def test_rest_body_proportions(neutral):
    v, j = neutral["v_template"], neutral["J"]
    assert v[:, 1].min() == pytest.approx(-1.15, abs=0.03)  # soles
    assert v[:, 1].max() == pytest.approx(0.55, abs=0.03)  # head top
    assert np.allclose(j[0], [0.0, -0.22, 0.03], atol=0.02)  # pelvis
    arm_span = v[:, 0].max() - v[:, 0].min()
    assert 1.5 < arm_span < 1.9  # T-pose, arms along +-x
    # Hand-typed SMPL-like joint places (metres): the regressed joints sit where a body's joints are.
    approx = {4: (0.10, -0.69, 0.01), 5: (-0.10, -0.69, 0.01), 7: (0.09, -1.09, -0.03), 8: (-0.09, -1.09, -0.03),
              12: (0.0, 0.29, -0.01), 15: (0.0, 0.37, 0.04), 16: (0.17, 0.23, -0.02), 18: (0.43, 0.22, -0.04),
              20: (0.69, 0.22, -0.045), 21: (-0.69, 0.22, -0.045)}  # fmt: skip
    for k, p in approx.items():
        assert np.linalg.norm(j[k] - p) < 0.03, k
    assert (j[[1, 4, 7, 10, 13, 16, 18, 20, 22], 0] > 0).all()  # left joints at +x
    assert (j[[2, 5, 8, 11, 14, 17, 19, 21, 23], 0] < 0).all()


def test_mesh_is_closed_consistently_wound_and_well_shaped(neutral):
    mesh = trimesh.Trimesh(neutral["v_template"], neutral["f"].astype(np.int64), process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.euler_number == 2 and len(mesh.split(only_watertight=False)) == 1
    assert 0.05 < mesh.volume < 0.09  # m^3: a 50-90 kg body; positive = outward winding
    assert mesh.area_faces.min() > 1e-7
    assert np.degrees(mesh.face_angles.min()) > 5.0
    assert len(np.unique(np.sort(neutral["f"], axis=1), axis=0)) == 13776


def test_landmark_vertices_sit_at_their_body_places(neutral):
    v = neutral["v_template"]
    p = {k: v[i] for k, i in LANDMARKS.items()}
    head = v[v[:, 1] > 0.33]
    assert abs(p["nose"][0]) < 0.01 and p["nose"][2] >= np.percentile(head[:, 2], 99.5)  # front of the head
    assert p["leye"][0] > 0.015 and p["reye"][0] < -0.015  # left eye on +x
    assert min(p["leye"][1], p["reye"][1]) > p["nose"][1]
    assert p["lear"][0] > 0.07 and p["rear"][0] < -0.07
    assert abs(p["lear"][1] - p["leye"][1]) < 0.05
    for s in ("L", "R"):
        toe, small, heel = p[f"{s}BigToe"], p[f"{s}SmallToe"], p[f"{s}Heel"]
        assert toe[2] > heel[2] + 0.18 and small[2] > heel[2] + 0.15  # toes in front of heels
        assert max(toe[1], small[1], heel[1]) < -1.10  # near the floor
        assert abs(toe[0]) < abs(small[0])  # big toe on the inside
        assert np.sign(toe[0]) == (1 if s == "L" else -1)
    for s, sign in (("l", 1), ("r", -1)):
        tips = np.array([p[f"{s}{f}"] for f in ("thumb", "index", "middle", "ring", "pinky")])
        assert (sign * tips[:, 0] > 0.75).all()  # at the end of the hand
        assert (np.diff(tips[:, 2]) < 0).all()  # thumb at the front (+z), then index ... pinky towards the back


def test_skinning_weights(neutral):
    w = neutral["weights"]
    assert (w >= 0).all() and np.allclose(w.sum(1), 1.0, atol=1e-9)
    assert ((w > 0).sum(1) <= 3).mean() > 0.9
    dominant = w.argmax(1)
    assert set(dominant.tolist()) == set(range(24))  # every joint drives part of the body
    expect = {"nose": 15, "lindex": 22, "rpinky": 23, "LHeel": 7, "RBigToe": 11, "lthumb": 20}
    for name, joint in expect.items():
        assert dominant[LANDMARKS[name]] == joint, name


def test_joint_regressor_rows_and_reproduction(neutral):
    reg, v = neutral["J_regressor"], neutral["v_template"]
    dense = reg.toarray()
    assert np.allclose(dense.sum(1), 1.0, atol=1e-6) and (dense >= 0).all()
    assert ((dense > 0).sum(1) >= 4).all()
    assert np.abs(dense @ v - neutral["J"]).max() < 0.01
    wn = _winding_number(np.vstack([dense @ v, [[0.0, 0.0, 1.0], [0.0, -0.8, 0.0]]]), v, neutral["f"].astype(np.int64))
    assert (wn[:24] > 0.99).all()  # every joint inside the body
    assert np.abs(wn[24:]).max() < 0.01  # the helper's check: in front of the body, between the knees


def test_h36m_regressor_on_a_posed_body(demo_assets, smpl_layers):
    reg = np.load(demo_assets.h36m_regressor)
    assert reg.shape == (17, 6890) and reg.dtype == np.float64
    assert np.allclose(reg.sum(1), 1.0, atol=1e-3)
    assert ((4 <= (reg != 0).sum(1)) & ((reg != 0).sum(1) <= 20)).all()
    pose = torch.zeros(2, 69)
    pose[1, 3 * 3 : 3 * 3 + 3] = torch.tensor([1.2, 0.0, 0.0])  # right knee bent
    pose[1, 3 * 17 : 3 * 17 + 3] = torch.tensor([0.0, 1.3, 0.0])  # left elbow bent
    out = smpl_layers["neutral"](body_pose=pose, global_orient=torch.tensor([[0.3, 0.5, 0.0]] * 2))
    verts, joints = out.vertices.detach().double().numpy(), out.joints.detach().double().numpy()
    h36m = np.einsum("jv,bvc->bjc", reg, verts)
    for h, s in H36M_TO_SMPL.items():
        assert np.linalg.norm(h36m[:, h] - joints[:, s], axis=-1).max() < 0.04, (h, s)
    up = Rotation.from_rotvec([0.3, 0.5, 0.0]).apply([0.0, 1.0, 0.0])
    height = h36m @ up  # along the body's up axis
    assert (height[:, 10] > height[:, 9]).all() and (height[:, 9] > height[:, 8]).all()  # head > nose > neck
    assert (height[:, 8] > height[:, 7]).all() and (height[:, 7] > height[:, 0]).all()  # neck > torso > pelvis
    rest = reg @ _load_pkl(demo_assets)["v_template"]
    assert rest[9, 2] > rest[10, 2] + 0.05  # the nose is in front of the head joint
    assert rest[4, 0] > 0 > rest[1, 0]  # L_Hip on +x


def test_shape_blend_shapes_are_meaningful(smpl_layers, neutral):
    layer = smpl_layers["neutral"]
    faces = neutral["f"].astype(np.int64)

    def body(beta_index: int, value: float) -> trimesh.Trimesh:
        betas = torch.zeros(1, 10)
        betas[0, beta_index] = value
        return trimesh.Trimesh(layer(betas=betas).vertices[0].detach().numpy(), faces, process=False)

    base = body(0, 0.0)
    height = base.extents[1]
    assert body(0, 2.0).extents[1] > height + 0.08 and body(0, -2.0).extents[1] < height - 0.08  # stature
    assert body(1, 2.0).volume > 1.15 * base.volume and body(1, -2.0).volume < 0.85 * base.volume  # weight
    for k in range(10):
        for value in (-2.0, 2.0):
            m = body(k, value)
            assert 1.45 < m.extents[1] < 2.0 and m.volume > 0.03, (k, value)


def test_pose_blend_shapes_are_small_smooth_and_local(neutral):
    pd, v, f = neutral["posedirs"], neutral["v_template"], neutral["f"].astype(np.int64)
    per_feature = np.abs(pd).max(axis=(0, 1))
    assert (per_feature > 5e-4).all() and per_feature.max() < 0.02  # millimetres, not zero, not large
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    jump = np.abs(pd[edges[:, 0]] - pd[edges[:, 1]]).mean()
    assert jump < 0.3 * np.abs(pd[np.abs(pd).sum(axis=(1, 2)) > 0]).mean()  # neighbours move alike: not noise
    knee = np.linalg.norm(pd[:, :, 27:36], axis=1).max(1)  # left knee (joint 4) features 9*(4-1)..+9
    assert np.linalg.norm(v[knee.argmax()] - neutral["J"][4]) < 0.15


# ---------------------------------------------------------------------------------------------------------------
# AMASS-format motions


def test_amass_files_have_the_real_keys_and_dtypes(demo_assets, sequences):
    total = 0
    for rel, z in sequences.items():
        assert set(z) == AMASS_KEYS, rel
        n = z["poses"].shape[0]
        total += n
        assert 100 <= n <= 400
        assert z["poses"].shape == (n, 156) and z["poses"].dtype == np.float64
        assert z["trans"].shape == (n, 3) and z["trans"].dtype == np.float64
        assert z["dmpls"].shape == (n, 8) and z["dmpls"].dtype == np.float64
        assert z["betas"].shape == (16,) and z["betas"].dtype == np.float64
        assert (
            z["gender"].shape == ()
            and z["gender"].dtype.kind == "U"
            and str(z["gender"]) in {"male", "female", "neutral"}
        )
        assert z["mocap_framerate"].shape == () and z["mocap_framerate"].dtype == np.float64
        assert float(z["mocap_framerate"]) in (60.0, 120.0)
        assert all(np.isfinite(a).all() for k, a in z.items() if k != "gender")
    assert total >= 2000
    shapes = sorted(demo_assets.amass_dir.rglob("shape.npz"))
    assert shapes
    for path in shapes:
        with np.load(path) as z:
            assert set(z.files) == {"betas", "gender"}


def test_amass_files_read_through_the_project_reader(demo_assets):
    from mpt.data.amass import find_amass_files, read_amass_sequence

    found = find_amass_files(demo_assets.amass_dir)
    read = [read_amass_sequence(demo_assets.amass_dir / p) for p in found]
    assert sum(s is None for s in read) == len(list(demo_assets.amass_dir.rglob("shape.npz")))
    assert all(s.poses.shape[1] == 72 for s in read if s is not None)


@pytest.fixture(params=["demo", "study"])
def corpus(request) -> tuple[str, dict[str, dict[str, np.ndarray]]]:
    """The motions of the demo size, then of the reduced study corpus."""
    return request.param, request.getfixturevalue("sequences" if request.param == "demo" else "study_sequences")


def test_amass_poses_are_anatomically_bounded(corpus):
    for rel, z in corpus[1].items():
        body = z["poses"][:, 3:66].reshape(-1, 21, 3)  # SMPL joints 1..21
        assert np.linalg.norm(body, axis=-1).max() < 2.6, rel
        assert np.abs(z["poses"][:, 66:]).max() < 1.0, rel  # finger curls stay small
        for knee in (3, 4):  # SMPL joints 4, 5: the shin swings backwards only
            shin = Rotation.from_rotvec(body[:, knee]).apply([0.0, -1.0, 0.0])
            assert shin[:, 2].max() < 0.1, rel
        for elbow, sign in ((17, 1.0), (18, -1.0)):  # SMPL 18 (left, arm along +x) and 19 (right, -x)
            forearm = Rotation.from_rotvec(body[:, elbow]).apply([sign, 0.0, 0.0])
            assert forearm[:, 2].min() > -0.1, rel  # the forearm folds forwards only


def test_amass_motion_is_smooth_and_moves(corpus):
    # rad/s and m/s: the demo's walks and squats stay slow; the study's runs, jumps, kicks and throws are fast
    # human motions (knee and shoulder speeds of 10-20 rad/s, running at up to ~4 m/s), still below the fastest.
    max_rate, max_speed = {"demo": (12.0, 3.0), "study": (20.0, 5.0)}[corpus[0]]
    for rel, z in corpus[1].items():
        rots = Rotation.from_rotvec(z["poses"][:, :66].reshape(-1, 3)).as_matrix().reshape(-1, 22, 3, 3)
        rel_rot = np.einsum("njba,njbc->njac", rots[:-1], rots[1:])  # R_t^T R_{t+1}
        angle = np.arccos(np.clip((np.trace(rel_rot, axis1=2, axis2=3) - 1) / 2, -1, 1))
        rate = float(z["mocap_framerate"])
        assert angle.max() * rate < max_rate, rel
        assert angle.max() > 1e-3, rel  # not a frozen pose
        step = np.linalg.norm(np.diff(z["trans"], axis=0), axis=1)
        assert step.max() * rate < max_speed, rel


def test_amass_bodies_stand_upright_on_the_floor(sequences, neutral, smpl_layers):
    j = neutral["J"]
    chain = [0, 3, 6, 9, 12, 15]
    for rel, z in sequences.items():
        p = z["poses"]
        up = Rotation.from_rotvec(p[:, :3]).apply([0.0, 1.0, 0.0])
        assert up[:, 2].min() > 0.7, rel  # the pelvis's up axis points up the world's z
        # head position relative to the pelvis by forward kinematics along the spine, with scipy
        offset = np.zeros((len(p), 3))
        for child, parent in zip(chain[::-1][:-1], chain[::-1][1:]):
            offset = j[child] - j[parent] + offset
            local = p[:, 3 * parent : 3 * parent + 3] if parent else np.zeros((len(p), 3))
            offset = Rotation.from_rotvec(local).apply(offset)
        head_above = Rotation.from_rotvec(p[:, :3]).apply(offset)[:, 2]
        assert head_above.min() > 0.2, rel
        # feet on the floor (z = 0) in a few frames, through smplx
        idx = np.linspace(0, len(p) - 1, 4).astype(int)
        pose = torch.tensor(p[idx, :66], dtype=torch.float32)
        out = smpl_layers["neutral"](global_orient=pose[:, :3], body_pose=torch.cat([pose[:, 3:], torch.zeros(4, 6)], 1),
                                     transl=torch.tensor(z["trans"][idx], dtype=torch.float32))  # fmt: skip
        lowest = out.vertices[..., 2].min(1).values.detach().numpy()
        assert np.abs(lowest).max() < 0.04, rel
        assert 0.55 < z["trans"][:, 2].mean() < 1.0, rel


def test_motion_depends_on_the_seed_and_kind():
    a = make_sequence("walk", 120, 60.0, np.random.default_rng(1))
    b = make_sequence("walk", 120, 60.0, np.random.default_rng(1))
    c = make_sequence("walk", 120, 60.0, np.random.default_rng(2))
    assert np.array_equal(a["poses"], b["poses"]) and not np.allclose(a["poses"], c["poses"])
    walk_speed = np.linalg.norm(a["trans"][-1, :2] - a["trans"][0, :2]) / 2.0
    assert 0.8 < walk_speed < 1.8  # m/s over 2 s
    squat = make_sequence("squat", 240, 60.0, np.random.default_rng(1))
    assert np.ptp(squat["trans"][:, 2]) > 0.1  # the pelvis goes down and up
    with pytest.raises(ValueError, match="unknown motion"):
        make_sequence("fly", 10, 60.0, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------------------------
# Corpus sizes: the demo is unchanged; the study corpus


def test_demo_size_writes_the_files_it_always_wrote(demo_assets):
    manifest = json.loads((demo_assets.root / "demo_assets.json").read_text())
    assert set(manifest) == {"generator", "version", "seed", "files"}  # no "size": the version-1 layout
    amass = [(e["path"], e["bytes"], e["sha256"]) for e in manifest["files"] if e["path"].startswith("amass/")]
    assert amass == [(f"amass/{p}", n, h) for p, n, h in DEMO_AMASS_FILES]
    others = [e["path"] for e in manifest["files"] if not e["path"].startswith("amass/")]
    assert others == [f"body_models/smpl/SMPL_{g}.pkl" for g in ("NEUTRAL", "MALE", "FEMALE")] + [
        "body_models/J_regressor_h36m_correct.npy"]  # fmt: skip
    for rel, size, digest in DEMO_AMASS_FILES:
        data = (demo_assets.amass_dir / rel).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == digest, rel


def test_sizes_and_scales():
    study = resolve_size("study")
    assert resolve_size("demo") is None
    roles = {d.role for d in study.datasets}
    assert roles == {"train", "val", "images"} and study.val_datasets == ("StudyHeldOut",)
    ten = resolve_size("study", 10.0)
    assert [d.subjects for d in ten.datasets] == [10 * d.subjects for d in study.datasets]
    assert [d.subjects for d in resolve_size("study", 0.001).datasets] == [1] * len(study.datasets)
    assert resolve_size(study, 2.0) == study.scaled(2.0)
    train_seconds = sum(d.subjects for d in study.datasets if d.role == "train") * study.sequences_per_subject * (
        sum(study.seconds) / 2)  # fmt: skip
    assert train_seconds * 30 > 50_000  # tens of thousands of 30 fps frames before prepare_amass's pose filter
    for bad in ({"size": "study", "scale": 0.0}, {"size": "study", "scale": -1.0}, {"size": "demo", "scale": 2.0},
                {"size": "huge"}):  # fmt: skip
        with pytest.raises(DemoAssetsError):
            resolve_size(**bad)


def test_cli_rejects_a_bad_scale(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "x"), "--size", "study", "--scale", "0"]) == 2
    assert "--scale" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "x"), "--scale", "3"]) == 2
    assert "study size only" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_study_corpus_layout_manifest_and_summary(study, study_sequences):
    assets, size = study
    manifest = json.loads((assets.root / "demo_assets.json").read_text())
    assert manifest["size"]["name"] == "study" and manifest["seed"] == 0
    listed = {e["path"] for e in manifest["files"]}
    on_disk = {p.relative_to(assets.root).as_posix() for p in assets.root.rglob("*") if p.is_file()}
    assert listed == on_disk - {"demo_assets.json"}
    summary = corpus_summary(assets.root)
    for d in size.datasets:
        top = "image_motions" if d.role == "images" else "amass"
        files = [rel for rel in study_sequences if rel.startswith(f"{top}/{d.name}/")]
        assert len(files) == d.subjects * size.sequences_per_subject, d.name
        assert len({Path(rel).parent for rel in files}) == d.subjects
        assert all(f"{Path(rel).parent.as_posix()}/shape.npz" in listed for rel in files)
        row = summary[f"{top}/{d.name}"]
        assert (row["subjects"], row["sequences"]) == (d.subjects, len(files))
        assert row["frames"] == sum(len(study_sequences[rel]["poses"]) for rel in files)
        for rel in files:
            z = study_sequences[rel]
            assert set(z) == AMASS_KEYS and float(z["mocap_framerate"]) == d.framerate, rel
            n = len(z["poses"])
            assert z["poses"].shape == (n, 156) and z["trans"].shape == (n, 3) and z["dmpls"].shape == (n, 8)
            assert z["betas"].shape == (16,) and str(z["gender"]) in {"male", "female", "neutral"}
            assert all(z[k].dtype == np.float64 and np.isfinite(z[k]).all() for k in AMASS_KEYS - {"gender"}), rel
            assert 3.9 <= n / d.framerate <= 6.1, rel
    assert (assets.image_motions_dir / "StudyH36M").is_dir() and not (assets.amass_dir / "StudyH36M").exists()


def test_rerun_of_the_same_study_writes_nothing(study):
    assets, size = study
    files = sorted(p for p in assets.root.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in files}
    assert make_demo_assets(assets.root, seed=0, size=size) == assets
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_study_motions_are_deterministic_nested_and_seeded(fixture_body):
    """Each subject and sequence draws from its own seed: the same seed gives the same files, a corpus with more
    subjects keeps the smaller one's files, another seed gives other motions."""
    one = CorpusSize("tiny", (MocapDataset("T", 30.0, 1, "train", "T"),), sequences_per_subject=2,
                     seconds=(3.0, 4.0), max_actions=2)  # fmt: skip
    two = one.scaled(2.0)

    def files(seed: int, size: CorpusSize) -> dict:
        return dict(motion_files(seed, size, fixture_body))

    a, again, bigger, other = files(0, one), files(0, one), files(0, two), files(1, one)
    assert list(a) == list(again) and len(bigger) == 2 * len(a)
    for rel, arrays in a.items():
        for key, value in arrays.items():
            assert np.array_equal(value, again[rel][key]) and np.array_equal(value, bigger[rel][key]), (rel, key)
    poses = [v["poses"] for v in a.values() if "poses" in v]
    others = [v["poses"] for v in other.values() if "poses" in v]
    assert all(p.shape != q.shape or not np.allclose(p, q) for p, q in zip(poses, others))


def test_study_corpus_is_varied(study_sequences):
    kinds = [_kinds(rel) for rel in study_sequences]
    assert {k for ks in kinds for k in ks} == STUDY_ACTIONS
    assert any(len(ks) > 1 for ks in kinds) and any(len(ks) == 1 for ks in kinds)  # single and chained actions
    # start headings: where the body faces at its first frame (SMPL's forward +z turned by the root)
    roots = np.array([z["poses"][0, :3] for z in study_sequences.values()])
    forward = Rotation.from_rotvec(roots).apply([0.0, 0.0, 1.0])
    heading = np.arctan2(forward[:, 1], forward[:, 0])
    assert len(np.unique(np.floor((heading + np.pi) / (np.pi / 4)))) >= 6  # 6 of 8 compass sectors
    assert np.abs(np.exp(1j * heading).mean()) < 0.4  # no preferred direction
    subjects = {Path(rel).parent: z for rel, z in study_sequences.items()}
    betas = np.array([z["betas"][:10] for z in subjects.values()])
    assert len(np.unique(betas, axis=0)) == len(subjects) and betas.std(axis=0).mean() > 0.4
    assert len({str(z["gender"]) for z in subjects.values()}) >= 2
    # paths: the travelling actions move, the others stay; runs are faster than walks
    travel, speed = {}, {}
    for rel, z in study_sequences.items():
        xy, fps = z["trans"][:, :2], int(z["mocap_framerate"])
        travel[rel] = np.linalg.norm(xy - xy[0], axis=1).max()
        speed[rel] = np.percentile(np.linalg.norm(xy[fps:] - xy[:-fps], axis=1), 90)  # m over 1 s
    still = [rel for rel, ks in zip(study_sequences, kinds) if not set(ks) & TRAVELLING]
    moving = [rel for rel, ks in zip(study_sequences, kinds) if set(ks) & {"walk", "run"}]
    assert still and moving
    assert max(travel[rel] for rel in still) < 0.5 and min(travel[rel] for rel in moving) > 1.5
    walks = [speed[rel] for rel, ks in zip(study_sequences, kinds) if ks == ["walk"]]
    runs = [speed[rel] for rel, ks in zip(study_sequences, kinds) if "run" in ks]
    assert runs and walks and min(runs) > max(walks) and 0.8 < min(walks) and max(runs) < 4.5


def test_study_bodies_stand_on_the_floor(study_sequences, smpl_layers):
    """Posed by smplx with the subject's own gender and betas, the lowest vertex is on the floor (z = 0) in nearly
    every frame and never below it; only runs and jumps leave it; pelvis heights are human."""
    airborne, lows = [], []
    for rel, z in study_sequences.items():
        p, trans = z["poses"], z["trans"]
        assert Rotation.from_rotvec(p[:, :3]).apply([0.0, 1.0, 0.0])[:, 2].min() > 0.7, rel  # upright
        assert 0.35 < trans[:, 2].min() and trans[:, 2].max() < 1.5, rel  # pelvis height: crouching to jumping
        idx = np.linspace(0, len(p) - 1, 24).astype(int)
        pose = torch.tensor(p[idx, :66], dtype=torch.float32)
        betas = torch.tensor(z["betas"][:10], dtype=torch.float32).expand(len(idx), -1)
        out = smpl_layers[str(z["gender"])](global_orient=pose[:, :3], betas=betas,
                                            body_pose=torch.cat([pose[:, 3:], torch.zeros(len(idx), 6)], 1),
                                            transl=torch.tensor(trans[idx], dtype=torch.float32))  # fmt: skip
        lowest = out.vertices[..., 2].min(1).values.detach().numpy()
        assert lowest.min() > -0.025, rel  # never through the floor
        lows.append(lowest)
        if lowest.max() > 0.05:
            airborne.append(set(_kinds(rel)))
    lows = np.concatenate(lows)
    assert np.mean(np.abs(lows) < 0.02) > 0.9
    assert airborne and all(ks & {"run", "jump", "lunge", "kick"} for ks in airborne)


def test_held_out_motions_stay_out_of_pre_training(study, study_sequences, tmp_path):
    """prepare_amass with the corpus's val datasets: validation = the held-out subjects' sequences only, the
    image-set motions are in neither split, and no held-out motion repeats a training one."""
    from mpt.data.prepare_amass import prepare_amass

    assets, size = study
    manifest = prepare_amass(assets.amass_dir, tmp_path / "cache", val_datasets=list(size.val_datasets),
                             target_fps=30.0)  # fmt: skip
    split = {q["path"]: q["split"] for q in manifest["sequences"]}
    amass = {rel.removeprefix("amass/") for rel in study_sequences if rel.startswith("amass/")}
    assert set(split) == amass
    held_out = {rel for rel in amass if rel.startswith("StudyHeldOut/")}
    assert held_out and {rel for rel, s in split.items() if s == "val"} == held_out
    assert manifest["splits"]["train"]["samples"] > manifest["splits"]["val"]["samples"] > 0
    train = [study_sequences[f"amass/{rel}"] for rel, s in split.items() if s == "train"]
    held = [z for rel, z in study_sequences.items() if rel.startswith(("amass/StudyHeldOut/", "image_motions/"))]
    for z in held:
        assert min(np.abs(z["betas"] - t["betas"]).max() for t in train) > 0.05  # other people
        for t in train:
            n = min(len(z["poses"]), len(t["poses"]))
            assert np.abs(z["poses"][:n, 3:66] - t["poses"][:n, 3:66]).mean() > 0.02  # other motions


def test_study_image_motions_render_protocol2_sets(study, tmp_path):
    """make_demo_tsv renders the held-out image motions; with several motions per subject the repeated actions
    become further trials, so every image name stays unique."""
    from mpt.data.tsv import TSVFile
    from tools.standin.make_tsv import make_demo_tsv

    assets, _ = study
    sets = make_demo_tsv(assets.image_assets(), tmp_path / "tsv", img_size=64, n_train=16, n_valid=24, n_coco=0,
                         n_keypoints=0)
    p2 = re.compile(r"^images/(S9|S11)_[A-Za-z]+(_\d+)?\.60457274_\d{6}\.jpg$")
    names = {}
    for key in ("h36m", "h36m_p2"):
        tsv = TSVFile(sets[key].folder / f"{sets[key].split}.label.tsv")
        names[key] = [tsv.key(i) for i in range(len(tsv))]
        assert len(names[key]) == sets[key].count > 0 and len(set(names[key])) == len(names[key]), key
    assert all(p2.match(n) for n in names["h36m_p2"]) and any(p2.match(n).group(2) for n in names["h36m_p2"])
    with pytest.raises(DemoAssetsError, match="study"):
        DemoAssets.at(tmp_path / "no_study").image_assets()


def test_switching_size_rebuilds_and_removes_the_old_motions(fixture_body, tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "build_demo_body", lambda: fixture_body)
    first = CorpusSize("one", (MocapDataset("First", 30.0, 1, "train", "F"),), 1, (2.0, 2.5), 1)
    second = replace(first, name="two", datasets=(MocapDataset("Second", 30.0, 1, "val", "S"),))
    make_demo_assets(tmp_path, seed=0, size=first)
    assert (tmp_path / "amass" / "First").is_dir()
    make_demo_assets(tmp_path, seed=0, size=second)
    assert not list((tmp_path / "amass" / "First").rglob("*.npz"))
    assert json.loads((tmp_path / "demo_assets.json").read_text())["size"]["name"] == "two"


def test_study_sequence_rejects_bad_actions(fixture_body):
    skeleton = subject_skeleton(fixture_body, "female", np.zeros(16))
    style = Style(tempo=1.0, amplitude=1.0, hand=1)
    for kinds, seconds in ((["fly"], [2.0]), (["walk"], [0.1]), (["walk", "run"], [2.0]), ([], [])):
        with pytest.raises(ValueError):
            make_study_sequence(kinds, seconds, 30.0, np.random.default_rng(0), style, skeleton)


# ---------------------------------------------------------------------------------------------------------------
# Building blocks of the body


def test_marching_tetrahedra_on_a_sphere():
    step, radius = 0.05, 0.6
    ax = np.arange(-1.0, 1.0 + step / 2, step) + 0.013  # off-centre so no grid value is exactly zero
    grid = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1)
    values = np.linalg.norm(grid, axis=-1) - radius
    v, f = marching_tetrahedra(values, grid[0, 0, 0], step)
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.euler_number == 2
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.03)
    assert np.allclose(np.linalg.norm(v, axis=1), radius, atol=0.01)


def test_body_shape_gradient_matches_finite_differences():
    shape = BodyShape()
    pts = np.random.default_rng(0).uniform([-0.8, -1.1, -0.1], [0.8, 0.5, 0.15], size=(300, 3))
    _, grad = shape(pts, grad=True)
    eps = 1e-6
    numeric = np.stack([(shape(pts + e)[0] - shape(pts - e)[0]) / (2 * eps) for e in np.eye(3) * eps], 1)
    assert np.abs(grad - numeric).max() < 1e-5
