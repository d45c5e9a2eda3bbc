# Everything a person types. Each target installs what it needs on a fresh machine.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The offline defaults of affectgpt.offline, for what make starts before Python code runs
# (pytest collection, mlflow ui); the library sets the same ones itself.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export DS_ACCELERATOR := cpu
export KERAS_BACKEND := torch
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test test-fast bench bench-scale lint clean images

$(STAMP): pyproject.toml requirements.lock constraints.txt scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

install: $(STAMP)

## make run: the main job (see README): the retrain pipeline under kfp.local on the demo corpus
run: $(STAMP)
	$(VENV)/bin/affectgpt pipeline run retrain --local

## make test: every test (unit, integration, e2e), on every core up to TEST_WORKERS (tests/conftest.py
## keeps each folder of tests on one worker and starts the heaviest first)
TEST_WORKERS ?= 4
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --timeout=1200 --durations=30 \
	  -n auto --maxprocesses=$(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not integration and not e2e"

## make bench: one table of every benchmark against its same-run baseline (benchmarks/report.py)
bench: $(STAMP)
	$(PY) benchmarks/report.py

## make bench-scale: build + extraction at 1k and 10k clips, 2 shards vs one process (hours on 2 cores)
bench-scale: $(STAMP)
	$(PY) benchmarks/report.py --scale

## make images: the platform and step images under the tag the compiled pipelines name (DRY_RUN=1: print only)
images: $(STAMP)
	PY=$(PY) bash scripts/images.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf .affectgpt mlruns build dist *.egg-info
