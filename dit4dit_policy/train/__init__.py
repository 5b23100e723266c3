"""Training: accelerate trainer (DDP/FSDP/DeepSpeed), optimiser, schedules, resumable checkpoints."""
