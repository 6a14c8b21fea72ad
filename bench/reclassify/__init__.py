"""Benchmark of `triage reclassify`: throughput and memory of the local and Ray engines."""
