"""Real posts from ``../shared/datasets``: the labeling sample, the project's labels, and their loader."""
