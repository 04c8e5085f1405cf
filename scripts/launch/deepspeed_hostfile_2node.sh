#!/usr/bin/env bash
# The same 2 x 8 GPU run with DeepSpeed's launcher. --no_local_rank stops it from appending --local_rank=N, which
# Hydra would reject; ranks come from the environment. hostfile lines look like "node0 slots=8".
# EXP, DATA, OUT, PRECISION, POSE_WEIGHTS: see env.sh, e.g.
#   EXP=finetune_mpt DATA=/shared/mpt HOSTFILE=hostfile scripts/launch/deepspeed_hostfile_2node.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
mpt_bin=$(command -v "$MPT_CMD") || { echo "$MPT_CMD is not on PATH: activate mpt's environment" >&2; exit 2; }
deepspeed --hostfile="${HOSTFILE:-hostfile}" --no_local_rank "$mpt_bin" "${MPT_ARGS[@]}" "$@"
