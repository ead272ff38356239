"""Training: the input pipeline, augmentation, models, losses and the per-fold fit."""
