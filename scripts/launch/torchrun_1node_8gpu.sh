#!/usr/bin/env bash
# Pre-train on one node with 8 GPUs. torchrun sets RANK / WORLD_SIZE / LOCAL_RANK in the environment, which mpt
# reads; --no-python runs the console script directly. The global batch is micro_batch x 8 (x grad_accum).
set -euo pipefail
torchrun --standalone --nproc_per_node=8 --no-python \
  mpt-pretrain experiment=pretrain_views8 paths.data_root=/data/mpt train.micro_batch=32 train.grad_accum=2 "$@"
