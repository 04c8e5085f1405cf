"""Training and evaluation loops (DeepSpeed or plain torch), checkpoints and logging."""
