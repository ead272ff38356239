"""Deployment: TFLite conversion and the quantization tables."""
