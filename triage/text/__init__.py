"""Text stages: normalisation and language identification."""
