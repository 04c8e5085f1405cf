"""The behaviour the demo shows (scripts/demo.sh): behind the released stand-in pose network, the pre-trained demo
model has a body's depth and finds the person zero-shot, and fine-tuning it end to end turns the mesh to face the way
the person faces (lower rotation error) without making the shape worse or the error larger.

Fine-tuning does not lower the protocol-2 MPJPE by much here (measured from a fresh clone: 87.6 -> 86.2 mm): it
lengthens the predicted bones by about 5% (README, the demo's known problem), so this test checks the rotation
error, not a drop in MPJPE.

The demo's own configs (configs/experiment/demo_*.yaml) on the same generated data; one slow run of the chain
(pre-training 600 steps, two evaluations, fine-tuning 150 steps): about as long as those steps of the demo; 580 s on
the loaded 2-core machine with one thread.
"""

import pytest

from mpt.config import compose_config


@pytest.mark.slow
def test_finetuning_behind_the_standin_corrects_the_facing(demo_assets, demo_cache, shared_cache_dir,
                                                              tmp_path) -> None:  # fmt: skip
    from mpt.engine.evaluate import evaluate
    from mpt.engine.finetune import finetune
    from mpt.engine.pretrain import pretrain
    from mpt.engine.thickness import mesh_thickness
    from tools.standin.make_tsv import make_demo_tsv
    from tools.standin.pose_release import install_demo_pose

    make_demo_tsv(demo_assets, tmp_path / "tsv", n_keypoints=0)  # the demo's sets (scripts/demo.sh)
    install_demo_pose(tmp_path)  # the released stand-in weights, under <data root>/pose/
    paths = [f"paths.data_root={tmp_path}", f"paths.smpl={demo_assets.smpl_dir}",
             f"paths.h36m_regressor={demo_assets.h36m_regressor}", f"paths.motion_cache={demo_cache}",
             f"paths.cache={shared_cache_dir}"]  # fmt: skip
    pre, ft = tmp_path / "pretrain", tmp_path / "finetune"
    pretrain(compose_config("pretrain", ["experiment=demo_pretrain", *paths, f"paths.output_dir={pre}"]))
    thickness = mesh_thickness(compose_config("pretrain", ["experiment=demo_pretrain", *paths]), str(pre))
    assert thickness["ratio"] >= 0.7, thickness  # a body, not a sheet (200 steps gave 0.08)

    def protocol2(row: str, checkpoint: str) -> dict[str, float]:
        cfg = compose_config("eval", [f"experiment={row}", f"checkpoint={checkpoint}", *paths, "vis=0",
                                      f"paths.output_dir={tmp_path / row}"])  # fmt: skip
        return evaluate(cfg)["metrics"]

    zero_shot = protocol2("demo_eval_pretrain", str(pre))
    finetune(compose_config("finetune", ["experiment=demo_finetune", *paths, f"train.init_from={pre}",
                                         f"paths.output_dir={ft}"]))  # fmt: skip
    tuned = protocol2("demo_eval", str(ft))
    # Measured by the demo from a fresh clone (2 threads): zero-shot 87.6 / 50.9 mm, rotation error 15.9 degrees;
    # fine-tuned 86.2 / 51.5 mm, 8.9 degrees. The bars: the demo's targets (zero-shot <= 130 mm, fine-tuned <= 100),
    # the facing corrected by at least 3 degrees, PA-MPJPE at most 1.5 mm worse (0.6 measured; other thread counts
    # sum in another order) and MPJPE at most 2 mm worse.
    assert zero_shot["mpjpe"] <= 130.0 and tuned["mpjpe"] <= 100.0, (zero_shot, tuned)
    assert tuned["rotation_error_deg"] <= zero_shot["rotation_error_deg"] - 3.0, (zero_shot, tuned)
    assert tuned["pa_mpjpe"] <= zero_shot["pa_mpjpe"] + 1.5, (zero_shot, tuned)
    assert tuned["mpjpe"] <= zero_shot["mpjpe"] + 2.0, (zero_shot, tuned)
