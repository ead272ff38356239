"""Data preparation: listing the input, planning shards, staging, merging masks, writing TFRecords (no TensorFlow)."""
