"""Inference: the models applied to images at their original size, and overlays."""
