#!/usr/bin/env bash
# One node x 8 GPUs. torchrun sets RANK / WORLD_SIZE / LOCAL_RANK in the environment, which mpt reads; --no-python
# runs the console script directly. The experiments' global batch is 32 per GPU x 16 GPUs; grad_accum=2 keeps it
# on 8. EXP, DATA, OUT, PRECISION, POSE_WEIGHTS: see env.sh, e.g.
#   EXP=pretrain_views8 DATA=/data/mpt scripts/launch/torchrun_1node_8gpu.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
torchrun --standalone --nproc_per_node=8 --no-python "$MPT_CMD" "${MPT_ARGS[@]}" train.grad_accum=2 "$@"
