"""Training tests: keep OpenMP from spinning (see training/__init__.py) before anything loads torch here."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
