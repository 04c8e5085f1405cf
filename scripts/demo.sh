#!/usr/bin/env bash
# The whole chain on generated stand-in data (no licensed files, no GPU, no downloads):
#   demo assets -> AMASS-format motion cache -> rendered image sets -> camera/heatmap pictures
#   -> mpt-pretrain -> mpt-finetune -> mpt-eval (Human3.6M protocol-2 table).
# Run ./scripts/install.sh first (README). Outputs go to data/demo and outputs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DEMO=data/demo
OUT=outputs/demo
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "demo assets (SMPL-format body, H36M regressor, AMASS-format motions)"
$PY tools/make_demo_assets.py --out "$DEMO"
step "motion cache"
$PY tools/prepare_amass.py --amass-root "$DEMO/amass" --out "$DEMO/amass_cache" --val-datasets DemoMocapB \
  --target-fps 30
step "demo image sets (METRO TSV)"
$PY tools/make_demo_tsv.py --assets "$DEMO" --out "$DEMO/tsv"
step "pictures: the 8 virtual cameras and the heatmaps they see"
$PY tools/show_views.py --assets "$DEMO" --out "$OUT/views"
step "pre-training (tiny model, synthesised heatmaps)"
.venv/bin/mpt-pretrain experiment=demo_pretrain
step "fine-tuning (HigherHRNet-w32 + pre-trained model, demo images)"
.venv/bin/mpt-finetune experiment=demo_finetune
step "evaluation (Human3.6M protocol 2 on the demo validation images)"
.venv/bin/mpt-eval experiment=demo_eval
step "inference on a few demo images (mpt-infer: overlay PNG, OBJ/PLY mesh, JSON joints per image)"
mkdir -p "$OUT/photos"
$PY - "$DEMO/tsv/human3.6m" "$OUT/photos" <<'PYEOF'
import base64, sys
from pathlib import Path
from mpt.data.tsv import TSVFile
tsv, out = TSVFile(Path(sys.argv[1]) / "valid_protocol2.img.tsv"), Path(sys.argv[2])
for i in range(0, min(len(tsv), 12), 4):  # three of the rendered validation images, as plain JPEG files
    name, b64 = tsv[i][:2]
    (out / Path(name).name).write_bytes(base64.b64decode(b64))
PYEOF
.venv/bin/mpt-infer checkpoint="$OUT/finetune" images="$OUT/photos" out="$OUT/infer" paths.data_root="$DEMO"
step "done: pictures in $OUT/views, overlays in $OUT/eval/vis and $OUT/infer, metrics in $OUT/eval/eval.json"

# ---- mesh from 2D keypoints (mpt.lifting): self-contained, needs only the demo data and the pre-training export
step "mesh from 2D keypoints: the pre-trained model lifts COCO-17 keypoints (demo labels + 2 px noise, as a detector)"
$PY tools/keypoints_from_tsv.py --tsv "$DEMO/tsv/human3.6m" --split valid_protocol2 --count 3 --every 20 --noise 2 \
  --out "$OUT/lift/keypoints.json" --images "$OUT/lift/images"
.venv/bin/mpt-infer checkpoint="$OUT/pretrain" keypoints="$OUT/lift/keypoints.json" images="$OUT/lift/images" \
  out="$OUT/lift/out" paths.data_root="$DEMO"
step "done: meshes lifted from keypoints in $OUT/lift/out (overlays with the input keypoints: *_overlay.png)"
