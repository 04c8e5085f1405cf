#!/usr/bin/env bash
# The same 2 x 8 GPU run with DeepSpeed's launcher. --no_local_rank stops it from appending --local_rank=N, which
# Hydra would reject; ranks come from the environment. hostfile lines look like "node0 slots=8".
set -euo pipefail
HOSTFILE=${HOSTFILE:-hostfile}
deepspeed --hostfile="$HOSTFILE" --no_local_rank "$(command -v mpt-finetune)" experiment=finetune_mpt \
  paths.data_root=/shared/mpt paths.output_dir=/shared/mpt/outputs/finetune_mpt deepspeed=bf16 "$@"
