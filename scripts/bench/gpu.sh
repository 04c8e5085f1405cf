#!/usr/bin/env bash
# GPU check on a lent machine (one H100 / H200; torch 2.11 preinstalled; no DeepSpeed, smplx or hydra; no network):
# demo assets -> motion cache -> demo image sets, then
#   1. correctness (scripts/bench/gpu_checks.py), one PASS / FAIL / SKIP line each: CUDA synthesis equals CPU
#      synthesis (maps and targets within 1e-4, as the CPU suite's test of the same comparison); the model's loss
#      and gradients on one batch equal the CPU's (TF32 tolerance); 20 pre-training steps (model=mpt, batch 32) in
#      fp32, bf16 and fp16 (the precision the CPU suite cannot train) lower the loss and agree within the script's
#      stated tolerances; a checkpoint written on the GPU really resumes (the resumed run starts after it); an
#      optimizer step calls torch's fused Adam kernel; the CUDA tests
#      (tests/inference/test_images.py::test_gpu_matches_cpu, tests/synthesis/test_pipeline.py::test_cuda_matches_cpu)
#      pass. The fp32 and bf16 runs also give the
#      pre-training throughput and peak GPU memory.
#   2. speed: pre-training step split into synthesis and model (scripts/bench/bench_pretrain.py, fp32), heatmap
#      synthesis batched torch vs per-sample numpy (bench_synthesis.py), the SMPL forward against smplx
#      (bench_smpl.py), fine-tuning throughput and peak GPU memory (python -m mpt.cli.finetune, from metrics.jsonl)
# and a summary: the PASS / FAIL lines, then the figures, printed also when the script is stopped (a trap on EXIT:
# a device call's time limit keeps what was measured). Sized for one 10-minute device call on an H200; every step
# has its own time limit. The exit status is 1 when a check failed.
#
#   bash scripts/bench/gpu.sh                 all of the above
#   bash scripts/bench/gpu.sh --checks        only the set-up and the correctness checks
#   bash scripts/bench/gpu.sh --speed         only the set-up and the speed figures
#   bash scripts/bench/gpu.sh --finetune      only the set-up and the fine-tuning throughput
#   bash scripts/bench/gpu.sh --device cpu    any of these on the CPU (see the smoke test below)
#
# Through the device tool: run(command="bash scripts/bench/gpu.sh", carry=[".whl"], timeout_s=600). Logs go to
# $OUT (returned by the tool) when it is set, else to $WORK/logs.
#
# Wheels for the device's Python 3.12, downloaded here into the repo's git-ignored .whl/ (the device has no network;
# torch, numpy, scipy, opencv, matplotlib, tensorboard, safetensors, tqdm, einops, msgpack, ninja, psutil, py-cpuinfo,
# packaging, PyYAML, pytest, onnx and onnxruntime are already there):
#   P="--no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64"
#   P="$P --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
#   python3 -m pip download $P --platform manylinux1_x86_64 -d .whl smplx==0.1.28 hydra-core==1.3.8 \
#     omegaconf==2.3.1 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
#     typing-extensions==4.16.0 hjson==3.1.0 fast-simplification==0.2.0 trimesh==5.2.0
#   # DeepSpeed and antlr4 are published as source only: build pure-Python wheels (no ops compiled; DeepSpeed
#   # JIT-builds an op on the GPU only if a run asks for one, and mpt asks for none: torch's fused Adam is used)
#   DS_BUILD_OPS=0 python3 -m pip wheel --no-deps -w .whl deepspeed==0.19.8 antlr4-python3-runtime==4.9.3
# giving (6.4 MB):
#   annotated_types-0.8.0-py3-none-any.whl           antlr4_python3_runtime-4.9.3-py3-none-any.whl
#   deepspeed-0.19.8-py3-none-any.whl                hjson-3.1.0-py3-none-any.whl
#   fast_simplification-0.2.0-cp312-cp312-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
#   hydra_core-1.3.8-py3-none-any.whl                omegaconf-2.3.1-py3-none-any.whl
#   pydantic-2.14.4-py3-none-any.whl                 smplx-0.1.28-py3-none-any.whl
#   pydantic_core-2.50.5-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
#   trimesh-5.2.0-py3-none-any.whl                   typing_extensions-4.16.0-py3-none-any.whl
#   typing_inspection-0.4.5-py3-none-any.whl
#
# Every setting below can be overridden from the environment; a CPU smoke test of this script (every check runs as
# far as a CPU allows: fp16 and fused Adam report SKIP, the CUDA tests report their skips; every check line is PASS
# or SKIP; tests/scripts/test_gpu_sh.py runs it when MPT_GPU_SH_SMOKE=1; its checks alone took 22 minutes on 2
# busy cores):
#   PYTHON=.venv/bin/python PT_MODEL=tiny PT_INPUT=heatmap56 PT_BATCH=4 PT_STEPS=4 SYN_BATCH=8 SYN_SIZE=56 \
#   FT_MODEL=tiny FT_INPUT=heatmap56 FT_BACKBONE=higherhrnet_w32 FT_BATCH=2 FT_STEPS=4 FT_WORKERS=0 \
#   FT_PRECISION=zero0 STEP_LIMIT=900 bash scripts/bench/gpu.sh --device cpu
set -euo pipefail

MODE=all
DEVICE=${DEVICE:-cuda}
while [ $# -gt 0 ]; do
  case "$1" in
    --all) MODE=all ;;
    --checks) MODE=checks ;;
    --speed) MODE=speed ;;
    --finetune) MODE=finetune ;;
    --device) DEVICE=${2:?--device needs cpu or cuda}; shift ;;
    *) echo "usage: $0 [--all | --checks | --speed | --finetune] [--device cuda|cpu]" >&2; exit 2 ;;
  esac
  shift
done

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/mpt_gpu}
LOGS=${OUT:-$WORK/logs}
PT_MODEL=${PT_MODEL:-mpt} PT_INPUT=${PT_INPUT:-heatmap} PT_BATCH=${PT_BATCH:-32} PT_STEPS=${PT_STEPS:-20}
SYN_BATCH=${SYN_BATCH:-256} SYN_SIZE=${SYN_SIZE:-224}
FT_MODEL=${FT_MODEL:-mpt} FT_INPUT=${FT_INPUT:-heatmap} FT_BACKBONE=${FT_BACKBONE:-higherhrnet_w48}
FT_BATCH=${FT_BATCH:-32} FT_STEPS=${FT_STEPS:-30} FT_WORKERS=${FT_WORKERS:-8} FT_PRECISION=${FT_PRECISION:-bf16}
STEP_LIMIT=${STEP_LIMIT:-150}  # seconds per step
mkdir -p "$WORK" "$LOGS"
cd "$WORK"  # outside the checkout, so `python -m mpt...` imports the copy below (which includes mpt.configs)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
start=$(date +%s)
SUMMARY=()
FAILED=0
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }
note() { SUMMARY+=("$1"); }
# run NAME CMD...: time-limited, output to the terminal and $LOGS/NAME.log; a failure is noted and returns 1
run() {
  local name=$1 rc; shift
  set +e
  timeout "$STEP_LIMIT" "$@" 2>&1 | tee "$LOGS/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] && return 0
  note "FAIL $name: exit $rc$([ "$rc" -eq 124 ] && echo ", over ${STEP_LIMIT}s"); see $LOGS/$name.log"
  FAILED=1
  return 1
}
# rate_of METRICS.JSONL GLOBAL_BATCH: samples/s between the first logged step from 5 on and the last one
rate_of() {
  "$PY" - "$1" "$2" <<'EOF' || echo "(could not read $1)"
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] == "train"]
first = next((r for r in rows if r["step"] >= 5), rows[0])
last = rows[-1]
peak = last.get("peak_gpu_memory_gib")
memory = "" if peak is None else f"; peak GPU memory {peak:.2f} GiB"
if last["step"] > first["step"]:
    rate = (last["step"] - first["step"]) * int(sys.argv[2]) / (last["time"] - first["time"])
    print(f"{rate:.4g} samples/s over steps {first['step']}..{last['step']} (last logged window "
          f"{last['samples_per_s']:.4g}); loss {rows[0]['loss']:.1f} -> {last['loss']:.1f}{memory}")
else:
    print(f"{last['samples_per_s']:.4g} samples/s (one logged window only){memory}")
EOF
}
finish() { step "summary"; printf '%s\n' "${SUMMARY[@]}" | tee "$LOGS/summary.txt"
           echo "total $(( $(date +%s) - start )) s; logs in $LOGS"; }
# The summary on every exit, a time limit's TERM included (the device tool stops a call that runs too long).
on_exit() { local rc=$?; trap - EXIT; [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ] && [ "$DONE" -eq 0 ] \
              && note "FAIL gpu.sh: stopped (exit $rc) before the end"; finish; exit "$rc"; }
DONE=0
trap on_exit EXIT
trap 'exit 143' TERM INT

step "environment"
if ! "$PY" -c "import deepspeed, smplx, hydra, omegaconf, fast_simplification, trimesh" 2>/dev/null; then
  [ -d "$REPO/.whl" ] || { echo "error: DeepSpeed / smplx / hydra missing, no $REPO/.whl (see the header)" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
    "$REPO"/.whl/*.whl
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
TESTS_ROOT=$REPO
if ! "$PY" -c "import mpt.configs" 2>/dev/null; then
  # mpt from the checkout without building it: a package folder of links to mpt/*, plus configs/ as mpt.configs
  # (pyproject's package-dir mapping, which an install would set up); tests/, tools/ and pyproject.toml beside it,
  # so that pytest run there imports this mpt (run in the checkout, it would import the checkout's mpt/, which has
  # no configs)
  rm -rf "$WORK/src" && mkdir -p "$WORK/src/mpt"
  for entry in "$REPO"/mpt/*; do ln -s "$entry" "$WORK/src/mpt/$(basename "$entry")"; done
  ln -s "$REPO/configs" "$WORK/src/mpt/configs"
  for entry in tests tools pyproject.toml; do ln -s "$REPO/$entry" "$WORK/src/$entry"; done
  export PYTHONPATH="$WORK/src${PYTHONPATH:+:$PYTHONPATH}"
  TESTS_ROOT=$WORK/src
fi
"$PY" - <<'EOF' | tee "$LOGS/environment.log"
import deepspeed, torch
import mpt.configs
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
print(f"torch {torch.__version__}, deepspeed {deepspeed.__version__}, {gpu}, mpt from {mpt.configs.__path__[0]}")
EOF
note "$(tail -1 "$LOGS/environment.log")"

step "demo assets, motion cache, image sets"
DEMO=$WORK/demo
TOOLS_PATH="${PYTHONPATH:+$PYTHONPATH:}$REPO"  # the stand-in tools run as python -m tools.standin.<name>
{ run assets env PYTHONPATH="$TOOLS_PATH" "$PY" -m tools.standin.make_assets --out "$DEMO" \
  && run cache "$PY" "$REPO/tools/prepare_amass.py" --amass-root "$DEMO/amass" --out "$DEMO/amass_cache" \
       --val-datasets DemoMocapB --target-fps 30 \
  && { [ "$MODE" = checks ] \
       || run tsv env PYTHONPATH="$TOOLS_PATH" "$PY" -m tools.standin.make_tsv --assets "$DEMO" --out "$DEMO/tsv" \
            --n-train 96 --n-valid 16 --n-coco 64 --n-keypoints 0; }; } || exit 1  # no keypoint set: gpu.sh never reads it

if [ "$MODE" = all ] || [ "$MODE" = checks ]; then
  step "correctness checks on $DEVICE: synthesis, $PT_STEPS pre-training steps in fp32 / bf16 / fp16, resume, fused Adam, CUDA tests"
  set +e
  timeout $((8 * STEP_LIMIT)) "$PY" "$REPO/scripts/bench/gpu_checks.py" --assets "$DEMO" --device "$DEVICE" \
    --model "$PT_MODEL" --input "$PT_INPUT" --batch "$PT_BATCH" --steps "$PT_STEPS" --work "$WORK/checks" \
    --cache "$DEMO/cache" --tests-root "$TESTS_ROOT" 2>&1 | tee "$LOGS/checks.log"
  rc=${PIPESTATUS[0]}
  set -e
  while IFS= read -r line; do note "$line"; done < <(grep -E '^(PASS|FAIL|SKIP) ' "$LOGS/checks.log")
  [ "$rc" -eq 0 ] || { FAILED=1; note "FAIL checks: gpu_checks.py exit $rc; see $LOGS/checks.log"; }
fi

if [ "$MODE" = all ] || [ "$MODE" = speed ]; then
  step "pre-training step split, model=$PT_MODEL, batch $PT_BATCH, fp32"
  if run pretrain_split "$PY" "$REPO/scripts/bench/bench_pretrain.py" --assets "$DEMO" --model "$PT_MODEL" \
    --input "$PT_INPUT" --batch "$PT_BATCH" --steps 10 --warmup 3 --device "$DEVICE" --deepspeed zero0; then
    note "pre-training fp32: $(grep -h 'whole step' "$LOGS/pretrain_split.log" | sed 's/  */ /g')"
    note "  $(grep -h 'synthesis share' "$LOGS/pretrain_split.log")"
    peak=$(grep -h 'peak GPU' "$LOGS/pretrain_split.log" || true)
    [ -n "$peak" ] && note "  $peak"
  fi

  step "heatmap synthesis: batched torch vs per-sample numpy"
  if run synthesis "$PY" "$REPO/scripts/bench/bench_synthesis.py" --device "$DEVICE" --batch "$SYN_BATCH" \
    --size "$SYN_SIZE" --assets "$DEMO" --repeats 5 --ref-repeats 1; then
    while IFS= read -r line; do note "synthesis: $line"; done < <(grep -E '^(SMPL|excluded|included)' "$LOGS/synthesis.log")
  fi
  step "SMPL forward: mpt.body.SmplSkinning vs smplx.SMPL"
  if run smpl "$PY" "$REPO/scripts/bench/bench_smpl.py" --device "$DEVICE" --assets "$DEMO" --batches 1 256 1024; then
    while IFS= read -r line; do note "smpl: $line"; done < <(grep -E '^ *(batch|[0-9])' "$LOGS/smpl.log")
  fi
fi

if [ "$MODE" = all ] || [ "$MODE" = speed ] || [ "$MODE" = finetune ]; then
  step "fine-tuning throughput: $FT_STEPS steps, model=$FT_MODEL, backbone=$FT_BACKBONE, batch $FT_BATCH, $FT_PRECISION"
  FT_RUN=$WORK/finetune
  rm -rf "$FT_RUN"
  if run finetune "$PY" -m mpt.cli.finetune "model=$FT_MODEL" "input=$FT_INPUT" "backbone=$FT_BACKBONE" backbone.weights=random data=demo_mixed \
    "deepspeed=$FT_PRECISION" "device=$DEVICE" "paths.data_root=$DEMO" "paths.tsv=$DEMO/tsv" "paths.cache=$DEMO/cache" \
    "paths.output_dir=$FT_RUN" "train.micro_batch=$FT_BATCH" "train.max_steps=$FT_STEPS" "train.num_workers=$FT_WORKERS" \
    train.log_every=5 train.val_every=1000000 train.ckpt_every=1000000 train.max_val_samples=16; then
    rate=$(rate_of "$FT_RUN/metrics.jsonl" "$FT_BATCH")
    note "fine-tuning $FT_PRECISION, batch $FT_BATCH, $FT_WORKERS workers: $rate"
  fi
fi

DONE=1
exit "$FAILED"  # the EXIT trap prints the summary
