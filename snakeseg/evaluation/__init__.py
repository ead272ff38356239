"""Evaluation: per-image metrics, out-of-fold scoring, dataset QA, experiment comparison, plots."""
