#!/usr/bin/env bash
# The paper's 16 GPUs as 2 nodes x 8: run this script on both nodes with NODE_RANK=0 / 1 and MASTER_ADDR set to
# node 0's address. All ranks must see the same paths.output_dir (a shared file system); only rank 0 writes logs.
set -euo pipefail
: "${MASTER_ADDR:?set MASTER_ADDR to node 0}" "${NODE_RANK:?set NODE_RANK to 0 or 1}"
torchrun --nnodes=2 --node_rank="$NODE_RANK" --nproc_per_node=8 --master_addr="$MASTER_ADDR" --master_port=29500 \
  --no-python mpt-pretrain experiment=pretrain_views8 paths.data_root=/shared/mpt \
  paths.output_dir=/shared/mpt/outputs/pretrain_views8 train.micro_batch=32 "$@"
