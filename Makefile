# The one documented entry point. `make help` lists the targets.
# Every target sets up the virtual environment it needs (.venv/, once, and again only
# when pyproject.toml or the TensorFlow build changes).

SHELL := /bin/bash
.DEFAULT_GOAL := help
PY ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# TensorFlow build: `gpu` (tensorflow[and-cuda]) where nvidia-smi sees a GPU, else `cpu`.
# Force one with `make ... TF=cpu` or `TF=gpu`.
TF ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.installed-$(TF)

# Pipeline settings (all optional; the Python defaults apply when unset).
DATA ?= auto
DEMO_SEED ?= 0
DEMO_SPEAKERS ?=
# Feature settings (FeatureSettings fields) and folds; unset = defaults.
N_MELS ?=
N_FOLDS ?=
FOLD_SEED ?=
FEATURE_ARGS = $(if $(N_MELS),--n-mels $(N_MELS))
FOLD_ARGS = $(if $(N_FOLDS),--n-folds $(N_FOLDS)) $(if $(FOLD_SEED),--fold-seed $(FOLD_SEED))

# --- setup -----------------------------------------------------------------

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || $(PY) -m venv $(VENV)
	@echo "setting up $(VENV) with the $(TF) build of TensorFlow (once; TF=cpu|gpu to choose) ..."
	@$(PYTHON) -m pip install -q --upgrade pip
	@if [ "$(TF)" = gpu ]; then $(PYTHON) -m pip uninstall -q -y tensorflow-cpu 2>/dev/null || true; \
	 else $(PYTHON) -m pip uninstall -q -y tensorflow 2>/dev/null || true; fi
	$(PYTHON) -m pip install -q -e '.[$(TF),dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

.PHONY: venv
venv: $(STAMP) ## Create .venv/ and install the dependencies (automatic for every target)

# --- pipeline --------------------------------------------------------------

.PHONY: data
data: $(STAMP) ## Put the competition in data/raw/ (DATA=auto|kaggle|demo|<folder>; DEMO_SEED, DEMO_SPEAKERS)
	$(PYTHON) -m competition.data --source "$(DATA)" --demo-seed $(DEMO_SEED) \
		$(if $(DEMO_SPEAKERS),--demo-speakers $(DEMO_SPEAKERS))

.PHONY: features
features: $(STAMP) ## Cache log-mel spectrograms of data/raw/ and make the CV folds (N_MELS, N_FOLDS, ...)
	$(PYTHON) -m competition.features $(FEATURE_ARGS)
	$(PYTHON) -m folds.make_folds $(FEATURE_ARGS) $(FOLD_ARGS)

.PHONY: folds
folds: $(STAMP) ## Make the speaker-grouped, label-stratified CV folds (N_FOLDS, FOLD_SEED)
	$(PYTHON) -m folds.make_folds $(FEATURE_ARGS) $(FOLD_ARGS)

# --- benchmarks (print figures; see README) ---------------------------------

.PHONY: bench-features
bench-features: $(STAMP) ## Time the feature cache against the naive librosa loop (BENCH_CLIPS)
	$(PYTHON) -m benchmarks.bench_features $(if $(BENCH_CLIPS),--clips $(BENCH_CLIPS))

# --- quality ---------------------------------------------------------------

.PHONY: test
test: $(STAMP) ## Run the test suite (PYTEST_ARGS="-k name" to select)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

.PHONY: lint
lint: $(STAMP) ## Check the code with ruff
	$(PYTHON) -m ruff check .

.PHONY: clean
clean: ## Delete artifacts/ (derived; data/ and .venv/ are kept)
	rm -rf artifacts

.PHONY: help
help: ## List the targets
	@echo "make data features train ensemble   # the whole pipeline (demo data without Kaggle credentials)"
	@echo "make test                           # the test suite"
	@echo
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'
