# Sourced by the launch scripts here (not run): one mpt training stage's command line, from the environment.
#   EXP           experiment (configs/experiment/$EXP.yaml): pretrain_* runs mpt-pretrain, finetune_* mpt-finetune
#   DATA          data root (paths.data_root): body models, motion cache, TSV sets, weights/ (docs/reproduce.md, 2)
#   OUT           output root (paths.output_root; default $DATA/outputs): the run writes $OUT/$EXP, and a fine-tuning
#                 starts from the pre-training beside it, $OUT/pretrain_* (the experiment's train.init_from)
#   PRECISION     fp32 (default) | fp16 | bf16. The paper's V100s: fp32 or fp16 (a V100 has no bf16 arithmetic);
#                 bf16 on A100 / H100
#   POSE_WEIGHTS  fine-tuning: the pose network's COCO keypoint checkpoint (backbone.weights); default
#                 $DATA/weights/pose_higher_hrnet_w48_640.pth (pose_resnet_101_256x192.pth for finetune_simplebaseline)
# Every launch passes train.resume=true: a relaunch or a requeued job continues $OUT/$EXP from its latest checkpoint
# (a folder without one starts at step 0). To start over, delete $OUT/$EXP or choose another OUT.
# Result: MPT_CMD (the console script) and MPT_ARGS (its Hydra overrides); extra overrides go after them.

: "${EXP:?set EXP to an experiment, e.g. EXP=pretrain_views8 or EXP=finetune_mpt}"
: "${DATA:?set DATA to the data root (paths.data_root), e.g. DATA=/shared/mpt}"
OUT=${OUT:-$DATA/outputs}
case "$EXP" in
  pretrain_*) MPT_CMD=mpt-pretrain ;;
  finetune_*) MPT_CMD=mpt-finetune ;;
  *) echo "EXP=$EXP: these scripts launch training (pretrain_* / finetune_*); evaluate with mpt-eval" \
       "(docs/reproduce.md)" >&2; exit 2 ;;
esac
case "${PRECISION:=fp32}" in
  fp32) DS_GROUP=zero0 ;;
  fp16) DS_GROUP=fp16 ;;
  bf16) DS_GROUP=bf16 ;;
  *) echo "PRECISION=$PRECISION: use fp32, fp16 (V100) or bf16 (A100 / H100)" >&2; exit 2 ;;
esac
MPT_ARGS=("experiment=$EXP" "paths.data_root=$DATA" "paths.output_root=$OUT" "paths.output_dir=$OUT/$EXP"
          "deepspeed=$DS_GROUP" "train.resume=true")
if [[ $MPT_CMD == mpt-finetune ]]; then
  if [[ $EXP == finetune_simplebaseline ]]; then default_pose=pose_resnet_101_256x192.pth
  else default_pose=pose_higher_hrnet_w48_640.pth; fi
  MPT_ARGS+=("backbone.weights=${POSE_WEIGHTS:-$DATA/weights/$default_pose}")
fi
