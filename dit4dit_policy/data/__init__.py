"""LeRobot datasets, the shared raw-observation → model-input transforms, normalisation statistics."""
