#!/usr/bin/env bash
# The one GPU check (benchmarks/gpu/check.py): run from anywhere in the repository on a machine
# with one GPU and the project's Python stack (.venv, or PYTHON=...). Nothing is downloaded.
# Writes gpu_check.json and gpu_check.txt to $OUT when set (a device run's result folder), else
# benchmarks/gpu/out. Extra arguments go to check.py (e.g. --layers 8, --only train agree).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
"$PYTHON" -c "import torch, transformers, peft, deepspeed" 2>/dev/null || {
  echo "check.sh: $PYTHON lacks torch/transformers/peft/deepspeed; run scripts/bootstrap.sh or set PYTHON" >&2
  exit 2
}
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
"$PYTHON" -c "import torch; print('device:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none (toy sizes)')"
# 8 minutes at most: a hung part must not eat the whole GPU loan
exec timeout 480 "$PYTHON" benchmarks/gpu/check.py --out "${OUT:-benchmarks/gpu/out}" "$@"
