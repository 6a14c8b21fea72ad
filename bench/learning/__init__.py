"""Benchmarks of the learning loop: the active-learning curve and the warm-start retraining time."""
