#!/usr/bin/env bash
# The whole chain on generated stand-in data (no licensed files, no GPU, no downloads):
#   demo assets -> AMASS-format motion cache -> rendered image sets -> camera/heatmap pictures
#   -> stand-in COCO pose network (released weights) -> mpt-pretrain -> zero-shot mpt-eval (the paper's Table 2
#   protocol)
#   -> mpt-finetune -> mpt-eval (Human3.6M protocol-2 table, both rows) -> pose maps (the paper's Figure 2)
#   -> mpt-infer -> mesh from 2D keypoints (mpt-infer keypoints=).
# Run ./scripts/install.sh first (README). Outputs go to data/demo and outputs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DEMO=data/demo
OUT=outputs/demo
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "demo assets (SMPL-format body, H36M regressor, AMASS-format motions)"
$PY -m tools.standin.make_assets --out "$DEMO"
step "motion cache"
$PY tools/prepare_amass.py --amass-root "$DEMO/amass" --out "$DEMO/amass_cache" --val-datasets DemoMocapB \
  --target-fps 30
step "demo image sets (METRO TSV; not the keypoint set the released pose network learnt from: --n-keypoints 0)"
$PY -m tools.standin.make_tsv --assets "$DEMO" --out "$DEMO/tsv" --n-keypoints 0
step "pictures: the 8 virtual cameras and the heatmaps they see"
$PY tools/show_views.py --assets "$DEMO" --out "$OUT/views"
step "stand-in COCO keypoint weights (released with mpt: SimpleBaseline ResNet-18 trained once on rendered images)"
$PY -m tools.standin.pose_release --data-root "$DEMO"
step "pre-training (tiny model, synthesised heatmaps)"
rm -rf "$OUT/pretrain" "$OUT/finetune"  # each demo trains afresh (mpt refuses to train over a run without train.resume)
.venv/bin/mpt-pretrain experiment=demo_pretrain
step "zero-shot evaluation (pre-trained model behind the stand-in pose network, no fine-tuning: Table 2 protocol)"
.venv/bin/mpt-eval experiment=demo_eval_pretrain
step "fine-tuning (pose network from the stand-in weights + pre-trained model, end to end, demo images)"
.venv/bin/mpt-finetune experiment=demo_finetune
step "evaluation (Human3.6M protocol 2 on the demo validation images)"
.venv/bin/mpt-eval experiment=demo_eval
step "evaluation on the 3DPW-like demo set (METRO's 3DPW protocol: MPJPE, PA-MPJPE and PVE, neutral ground-truth body)"
.venv/bin/mpt-eval experiment=demo_eval data=3dpw_test paths.output_dir="$OUT/eval_3dpw"
step "protocol 2 (zero-shot and fine-tuned, side by side) and 3DPW"
$PY tools/results_table.py "$OUT/eval_pretrain" "$OUT/eval" "$OUT/eval_3dpw"
step "pose maps before and after fine-tuning (the paper's Figure 2)"
$PY -m tools.standin.show_pose_maps --checkpoint "$OUT/finetune" --tsv "$DEMO/tsv/human3.6m" --split valid_protocol2 \
  --out "$OUT/pose_maps"
step "inference on a few demo images (mpt-infer: overlay PNG, OBJ/PLY mesh, JSON joints per image)"
# three rendered validation images, one per action, as JPEG files, with their label boxes as a detector's boxes file
$PY -m tools.standin.keypoints_from_tsv --tsv "$DEMO/tsv/human3.6m" --split valid_protocol2 --count 3 --every 20 \
  --bbox --out "$OUT/photo_boxes.json" --images "$OUT/photos"
# box_scale=1: the labels' boxes are the crops evaluation reads (a detector's tight boxes want METRO's 1.2)
.venv/bin/mpt-infer checkpoint="$OUT/finetune" images="$OUT/photos" boxes="$OUT/photo_boxes.json" box_scale=1.0 \
  out="$OUT/infer" paths.data_root="$DEMO"

# ---- mesh from 2D keypoints (mpt.inference.lift): the pre-trained model lifts a detector's COCO-17 keypoints
step "mesh from 2D keypoints: the pre-trained model lifts COCO-17 keypoints (demo labels + 2 px noise, as a detector)"
$PY -m tools.standin.keypoints_from_tsv --tsv "$DEMO/tsv/human3.6m" --split valid_protocol2 --count 3 --every 20 --noise 2 \
  --out "$OUT/lift/keypoints.json" --images "$OUT/lift/images"
.venv/bin/mpt-infer checkpoint="$OUT/pretrain" keypoints="$OUT/lift/keypoints.json" images="$OUT/lift/images" \
  out="$OUT/lift/out" paths.data_root="$DEMO"
step "done: pictures in $OUT/views and $OUT/pose_maps, overlays in $OUT/eval_pretrain/vis, $OUT/eval/vis, \
$OUT/infer and $OUT/lift/out, metrics in $OUT/eval_pretrain/eval.json, $OUT/eval/eval.json, $OUT/eval_3dpw/eval.json and $DEMO/pose/keypoints.json"
