"""Fine-tuning, distillation, ONNX export and evaluation of triage's classifiers.

Needs the ``train`` extra (torch, transformers, datasets, scikit-learn, matplotlib). The core ``triage``
package never imports this one; the CLI imports it lazily inside ``triage train | export | evaluate``.

Plain functions, one per step:

* :func:`training.train.train` — fine-tune the teacher (and, when configured, distil the student);
* :func:`training.distill.distill` — distil a fine-tuned teacher into a smaller student;
* :func:`training.export.export_artifact` — write the self-describing model folder;
* :func:`training.evaluate.evaluate` — metrics, a Markdown report and confusion matrices for any labeled file.
"""

import os as _os

# On a shared or small machine, OpenMP threads that spin while waiting for each other are descheduled
# mid-spin and torch runs up to 10x slower (measured: 12-layer e5-small, 2 threads, busy 2-core box:
# 1.5 vs 15 examples/s). Passive waiting costs little on an idle machine. It must be set before torch
# loads OpenMP, hence here, before any submodule imports torch; an explicit setting is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
