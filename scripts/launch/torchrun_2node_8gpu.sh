#!/usr/bin/env bash
# The paper's 16 GPUs as 2 nodes x 8: run this script on both nodes with NODE_RANK=0 / 1 and MASTER_ADDR set to
# node 0's address. All ranks must see the same DATA and OUT (a shared file system); only rank 0 writes logs.
# EXP, DATA, OUT, PRECISION, POSE_WEIGHTS: see env.sh, e.g.
#   EXP=finetune_mpt DATA=/shared/mpt NODE_RANK=0 MASTER_ADDR=node0 scripts/launch/torchrun_2node_8gpu.sh
set -euo pipefail
: "${MASTER_ADDR:?set MASTER_ADDR to node 0}" "${NODE_RANK:?set NODE_RANK to 0 or 1}"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
torchrun --nnodes=2 --node_rank="$NODE_RANK" --nproc_per_node=8 --master_addr="$MASTER_ADDR" \
  --master_port="${MASTER_PORT:-29500}" --no-python "$MPT_CMD" "${MPT_ARGS[@]}" "$@"
