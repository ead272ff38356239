"""Deployment: TFLite variants and SavedModel export (convert), LiteRT runtime, speed, comparison tables."""
