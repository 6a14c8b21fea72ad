"""The project's own labeled corpus: records, build from raw batches, checks, datasheet statistics."""
