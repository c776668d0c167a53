# The one documented entry point. `make help` lists the targets.
# Every target sets up the virtual environment it needs (.venv/, once, and again only
# when pyproject.toml or the TensorFlow build changes).

SHELL := /bin/bash
.DEFAULT_GOAL := help
# The stages read each other's files: `make -j4 data features train` must still run them in order.
.NOTPARALLEL:
PY ?= python3
# VENV=none: use the Python on PATH as it is (a Kaggle Notebook, a container) and install nothing.
VENV ?= .venv
# TensorFlow build: `gpu` (tensorflow[and-cuda]) where nvidia-smi sees a GPU, else `cpu`.
# Force one with `make ... TF=cpu` or `TF=gpu`.
TF ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
# Keras backend: tensorflow (default), jax or torch. Another backend is installed into the venv
# beside TensorFlow and every target runs on it (KERAS_BACKEND): a GPU machine without TensorFlow.
comma := ,
BACKEND ?= $(or $(KERAS_BACKEND),tensorflow)
ifeq ($(filter $(BACKEND),tensorflow jax torch),)
$(error BACKEND=$(BACKEND) is not a Keras backend: choose tensorflow, jax or torch)
endif
export KERAS_BACKEND := $(BACKEND)
BACKEND_EXTRA := $(if $(filter jax,$(BACKEND)),$(comma)jax$(if $(filter gpu,$(TF)),-cuda))$(if $(filter torch,$(BACKEND)),$(comma)torch)
ifeq ($(VENV),none)
PYTHON := $(PY)
STAMP :=
else
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(TF)$(if $(filter-out tensorflow,$(BACKEND)),-$(BACKEND))
endif
# The versions the tests passed with (pip constraints); CONSTRAINTS= installs the newest allowed.
CONSTRAINTS ?= constraints.txt
# More extras to install: postgres (OPTUNA_STORAGE=postgresql+psycopg://...), dashboard
EXTRAS ?=
# ARTIFACTS=<folder>: everything derived goes there instead of artifacts/ (e.g. /kaggle/working/artifacts).
ARTIFACTS ?=
ifneq ($(ARTIFACTS),)
export KWS_ARTIFACTS := $(abspath $(ARTIFACTS))
endif

# Pipeline settings (all optional; the Python defaults apply when unset).
DATA ?= auto
DEMO_SEED ?= 0
DEMO_SPEAKERS ?=
# Feature settings (FeatureSettings fields) and folds; unset = defaults. FEAT: any of them by
# name, e.g. FEAT="n_mels=64 hop_ms=15 pad=zeros" (competition/features.py lists them).
N_MELS ?=
FEAT ?=
N_FOLDS ?=
FOLD_SEED ?=
FEATURE_ARGS = $(if $(N_MELS),--n-mels $(N_MELS)) $(if $(FEAT),--feat $(FEAT))
FOLD_ARGS = $(if $(N_FOLDS),--n-folds $(N_FOLDS)) $(if $(FOLD_SEED),--fold-seed $(FOLD_SEED))
# Training: MODELS (default: every non-baseline model), FOLDS (subset, 0-based), EPOCHS,
# PROFILE (auto|full|cpu|toy), PARAMS (auto: tuned where they apply | default), SET (name=value ...).
# Precedence: defaults < policy (device, demo data) < tuned < what is typed here.
MODELS ?=
FOLDS ?=
EPOCHS ?=
PROFILE ?= auto
PARAMS ?= auto
SET ?=
TRAIN_ARGS = $(FEATURE_ARGS) $(FOLD_ARGS) --profile $(PROFILE) $(if $(EPOCHS),--epochs $(EPOCHS)) \
	$(if $(SET),--set $(SET))
# Processes at once for train (folds; default one per GPU, see README) and tune (trials; default 1)
WORKERS ?=
TENSORBOARD ?=
# Tuning: MODEL, TRIALS, WORKERS, TUNE_FOLDS, PRUNER, FIX (name=value ...); OPTUNA_STORAGE from the environment
MODEL ?= crnn_resnet
TRIALS ?= 20
TUNE_FOLDS ?= 0
PRUNER ?= hyperband
FIX ?=
# Pseudo-labels: make pseudo (SUBMISSION, THRESHOLD, PRECISION, SOFT, NAME), then make train PSEUDO=<set>
PSEUDO ?=
THRESHOLD ?= auto
PRECISION ?=
SOFT ?= 1
# Blending and submitting
RUNS ?=
METHOD ?= auto
PRIORS ?= uniform
OOF ?= auto
NAME ?=
SUBMISSION ?=
SOLUTION ?=
MESSAGE ?=
FORCE ?=

# --- setup -----------------------------------------------------------------

ifneq ($(VENV),none)
$(STAMP): pyproject.toml $(wildcard $(CONSTRAINTS))
	@test -x $(PYTHON) || $(PY) -m venv $(VENV)
	@echo "setting up $(VENV) with the $(TF) build of TensorFlow$(if $(BACKEND_EXTRA), and $(BACKEND)) (once; TF=cpu|gpu, BACKEND=jax|torch to choose) ..."
	@$(PYTHON) -m pip install -q --upgrade pip
	@if [ "$(TF)" = gpu ]; then $(PYTHON) -m pip uninstall -q -y tensorflow-cpu 2>/dev/null || true; \
	 else $(PYTHON) -m pip uninstall -q -y tensorflow 2>/dev/null || true; fi
	$(PYTHON) -m pip install -q -e '.[$(TF),dev$(BACKEND_EXTRA)$(if $(EXTRAS),$(comma)$(EXTRAS))]' $(if $(wildcard $(CONSTRAINTS)),-c $(CONSTRAINTS))
	@rm -f $(VENV)/.installed-*
	@touch $@
endif

.PHONY: venv
venv: $(STAMP) ## Create .venv/ and install the dependencies with constraints.txt (VENV=none: use the Python on PATH)

# --- pipeline --------------------------------------------------------------

.PHONY: data
data: $(STAMP) ## Put the competition in data/raw/ (DATA=auto|kaggle|demo|<folder>; DEMO_SEED, DEMO_SPEAKERS)
	$(PYTHON) -m competition.data --source "$(DATA)" --demo-seed $(DEMO_SEED) \
		$(if $(DEMO_SPEAKERS),--demo-speakers $(DEMO_SPEAKERS))

.PHONY: features
features: $(STAMP) ## Cache log-mel spectrograms of data/raw/ and make the CV folds (N_MELS, FEAT="name=value ...", N_FOLDS, ...)
	$(PYTHON) -m competition.features $(FEATURE_ARGS)
	$(PYTHON) -m folds.make_folds $(FOLD_ARGS)

.PHONY: folds
folds: $(STAMP) ## Make the speaker-grouped, label-stratified CV folds of the current features (N_FOLDS, FOLD_SEED)
	$(PYTHON) -m folds.make_folds $(FOLD_ARGS)

.PHONY: train
train: $(STAMP) ## Train MODELS on every fold: OOF + test predictions in artifacts/runs/ (FOLDS, EPOCHS, PROFILE, PARAMS, SET, WORKERS, TENSORBOARD=1)
	$(if $(TENSORBOARD),@$(PYTHON) -c "import tensorboard" 2>/dev/null || $(PYTHON) -m pip install -q 'tensorboard>=2.18')
	$(PYTHON) -m models.train $(if $(MODELS),--models $(MODELS)) $(if $(FOLDS),--folds $(FOLDS)) \
		--params $(PARAMS) $(TRAIN_ARGS) $(if $(WORKERS),--workers $(WORKERS)) $(if $(TENSORBOARD),--tensorboard) \
		$(if $(PSEUDO),--pseudo $(PSEUDO))

.PHONY: tune
tune: $(STAMP) ## Tune MODEL with Optuna (TRIALS, WORKERS, TUNE_FOLDS, PRUNER, FIX; OPTUNA_STORAGE=url to share)
	$(PYTHON) -m models.tune --model $(MODEL) --trials $(TRIALS) $(if $(WORKERS),--workers $(WORKERS)) \
		--tune-folds $(TUNE_FOLDS) --pruner $(PRUNER) $(if $(FIX),--fix $(FIX)) $(TRAIN_ARGS)

.PHONY: ensemble
ensemble: $(STAMP) ## Blend finished runs (method by honest CV), correct test priors, write submission + report (RUNS, METHOD, PRIORS, OOF, NAME)
	$(PYTHON) -m submissions.ensemble $(if $(RUNS),--runs $(RUNS)) --method $(METHOD) --priors $(PRIORS) \
		--oof $(OOF) $(if $(NAME),--name $(NAME))

.PHONY: noisy-oof
noisy-oof: $(STAMP) ## Add noisy OOF predictions (held-out clips + unheard background noise) to runs trained without them (RUNS)
	$(PYTHON) -m models.noisy_oof $(if $(RUNS),--runs $(RUNS))

.PHONY: pseudo
pseudo: $(STAMP) ## Pseudo-label the test clips an ensemble is sure of, for a second round: make train PSEUDO=<set> (SUBMISSION, THRESHOLD, PRECISION, SOFT, NAME)
	$(PYTHON) -m submissions.pseudo $(if $(SUBMISSION),--submission $(SUBMISSION)) --threshold $(THRESHOLD) \
		$(if $(PRECISION),--precision $(PRECISION)) --soft $(SOFT) $(if $(NAME),--name $(NAME))

.PHONY: score
score: $(STAMP) ## Score a submission on an answer key (SUBMISSION: newest; SOLUTION: the data's test_solution.csv)
	$(PYTHON) -m submissions.score $(if $(SUBMISSION),--submission $(SUBMISSION)) \
		$(if $(SOLUTION),--solution $(SOLUTION))

.PHONY: submit
submit: $(STAMP) ## Validate a submission, send it to Kaggle, wait for its public and private scores (SUBMISSION: newest; MESSAGE; WAIT seconds; FORCE=1 for other data)
	$(PYTHON) -m submissions.submit $(if $(SUBMISSION),--submission $(SUBMISSION)) --message "$(MESSAGE)" \
		$(if $(WAIT),--wait $(WAIT)) $(if $(FORCE),--force)

.PHONY: leaderboard
leaderboard: $(STAMP) ## Print every submission sent: honest CV against Kaggle's public and private scores
	$(PYTHON) -m submissions.leaderboard

.PHONY: dashboard
dashboard: $(STAMP) ## Browse the Optuna study of MODEL with optuna-dashboard (installed on first use; PORT)
	@$(PYTHON) -c "import optuna_dashboard" 2>/dev/null || $(PYTHON) -m pip install -q 'optuna-dashboard>=0.15'
	$(PYTHON) -m models.dashboard --model $(MODEL) $(if $(PORT),--port $(PORT))

.PHONY: kernel
kernel: $(STAMP) ## Write artifacts/kernel/ for `kaggle kernels push -p artifacts/kernel`: the pipeline in a Kaggle Notebook (KERNEL_ID, TARGETS, KERNEL_ARGS)
	$(PYTHON) -m competition.kernel $(if $(KERNEL_ID),--id $(KERNEL_ID)) --targets "$(or $(TARGETS),data features train ensemble)" \
		--make-args "$(KERNEL_ARGS)"

# --- benchmarks (print figures; see README) ---------------------------------

.PHONY: bench-features
bench-features: $(STAMP) ## Time the feature cache against the naive librosa loop (BENCH_CLIPS)
	$(PYTHON) -m benchmarks.bench_features $(if $(BENCH_CLIPS),--clips $(BENCH_CLIPS))

.PHONY: bench-train
bench-train: $(STAMP) ## 5-fold accuracy and time of every model + training throughput (BENCH_MODELS, EPOCHS)
	$(PYTHON) -m benchmarks.bench_train $(if $(BENCH_MODELS),--models $(BENCH_MODELS)) $(if $(EPOCHS),--epochs $(EPOCHS))

.PHONY: bench-tune
bench-tune: $(STAMP) ## Tuned against default parameters, trials pruned and time saved (MODEL, TRIALS, TRIAL_EPOCHS, FIX; EPOCHS of the 5-fold runs)
	$(PYTHON) -m benchmarks.bench_tune --model $(MODEL) --trials $(TRIALS) $(if $(TRIAL_EPOCHS),--epochs $(TRIAL_EPOCHS)) \
		$(if $(EPOCHS),--train-epochs $(EPOCHS)) $(if $(FIX),--fix $(FIX))

.PHONY: bench-ablation
bench-ablation: $(STAMP) ## The measurements behind the training defaults (one model, fold 0, each setting)
	$(PYTHON) -m benchmarks.bench_ablation

.PHONY: bench-speed
bench-speed: $(STAMP) ## Training clips/s of every model beside the feed's own rate (BACKEND, PROFILE, BENCH_CLIPS; COMPARE=onednn|allocator)
	$(PYTHON) -m benchmarks.bench_speed --profile $(PROFILE) $(if $(BENCH_CLIPS),--clips $(BENCH_CLIPS)) \
		$(if $(BENCH_MODELS),--models $(BENCH_MODELS)) $(if $(COMPARE),--compare $(COMPARE))

.PHONY: bench-scale
bench-scale: $(STAMP) ## The pipeline at Kaggle's size (64,727 + 158,538 clips): wall time and peak RSS per stage (TRAIN_CLIPS, TEST_CLIPS)
	$(PYTHON) -m benchmarks.bench_scale $(if $(TRAIN_CLIPS),--train-clips $(TRAIN_CLIPS)) $(if $(TEST_CLIPS),--test-clips $(TEST_CLIPS))

.PHONY: bench-stretch
bench-stretch: $(STAMP) ## Time-stretch three ways (opencv in the feeder, keras.ops.image.resize, the TimeStretch layer), clips/s
	$(PYTHON) -m benchmarks.bench_stretch

.PHONY: bench-kaggle-like
bench-kaggle-like: $(STAMP) ## Plain dev test against a Kaggle-like one (unseen words, unseen noise 0-20 dB) for each model and the ensemble (SOURCE, BENCH_MODELS, EPOCHS, N_FOLDS, SET, FEAT, FRONTENDS, LABEL, PRIORS, OOF, RUNS, ORACLE=1, ROUND_TWO=1)
	$(PYTHON) -m benchmarks.bench_kaggle_like $(if $(SOURCE),--source $(SOURCE)) $(if $(BENCH_MODELS),--models $(BENCH_MODELS)) \
		$(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(N_FOLDS),--n-folds $(N_FOLDS)) $(if $(SET),--set $(SET)) \
		$(if $(LABEL),--label "$(LABEL)") $(if $(filter command line,$(origin PRIORS)),--priors $(PRIORS)) \
		$(if $(ROUND_TWO),--round-two) $(if $(TABLE),--table) --oof $(OOF) $(if $(RUNS),--runs $(RUNS)) \
		$(if $(FEAT),--feat $(FEAT)) $(if $(FRONTENDS),--frontends $(FRONTENDS)) $(if $(ORACLE),--oracle)

.PHONY: bench-oof
bench-oof: $(STAMP) ## How honest the OOF predictions are: selection leak of the kept epoch, calibration before or after averaging folds (PROJECT)
	$(PYTHON) -m benchmarks.bench_oof $(if $(PROJECT),--project $(PROJECT)) $(if $(filter command line,$(origin PRIORS)),--priors $(PRIORS))

.PHONY: bench-gpu
bench-gpu: ## Every GPU figure of the README in one call under 8 minutes (JAX and PyTorch backends; BACKENDS)
	PYTHON=$(PYTHON) bash benchmarks/gpu.sh

.PHONY: bench
bench: bench-features bench-train bench-tune ## All benchmarks

# --- quality ---------------------------------------------------------------

.PHONY: test
test: $(STAMP) ## Run the test suite with TensorFlow's strictest CPU kernels, then the 15 slowest (PYTEST_ARGS="-k name")
	TF_ENABLE_ONEDNN_OPTS=$${TF_ENABLE_ONEDNN_OPTS:-0} $(PYTHON) -m pytest --durations=15 $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: $(STAMP) ## The tests that do not train, tune or build real data (about a minute)
	TF_ENABLE_ONEDNN_OPTS=$${TF_ENABLE_ONEDNN_OPTS:-0} $(PYTHON) -m pytest -m "not slow" $(PYTEST_ARGS)

.PHONY: test-backend
test-backend: $(STAMP) ## The model, augmentation and training tests on BACKEND=jax|torch with TensorFlow hidden (CI: jax)
	@if [ "$(BACKEND)" = tensorflow ]; then echo "make test-backend BACKEND=jax (or torch); make test covers tensorflow"; exit 2; fi
	$(PYTHON) -m pytest --durations=10 tests/test_models.py tests/test_augment.py tests/test_frontend.py tests/test_train.py $(PYTEST_ARGS)

.PHONY: lint
lint: $(STAMP) ## Check the code with ruff
	$(PYTHON) -m ruff check .

ARTIFACTS_DIR := $(or $(ARTIFACTS),artifacts)

.PHONY: clean
clean: ## Delete artifacts/ (derived; data/ and .venv/ are kept)
	rm -rf $(ARTIFACTS_DIR)

.PHONY: clean-runs
clean-runs: ## Delete trained runs (artifacts/runs/)
	rm -rf $(ARTIFACTS_DIR)/runs

.PHONY: clean-features
clean-features: ## Delete feature caches and folds (artifacts/features/, folds/, current.json)
	rm -rf $(ARTIFACTS_DIR)/features $(ARTIFACTS_DIR)/folds $(ARTIFACTS_DIR)/current.json

.PHONY: clean-tune
clean-tune: ## Delete Optuna studies and tuned parameters (artifacts/tune/; not a database in OPTUNA_STORAGE)
	rm -rf $(ARTIFACTS_DIR)/tune

.PHONY: clean-submissions
clean-submissions: ## Delete submissions and their reports (artifacts/submissions/, reports/; the leaderboard log too)
	rm -rf $(ARTIFACTS_DIR)/submissions $(ARTIFACTS_DIR)/reports

.PHONY: help
help: ## List the targets
	@echo "make data features train ensemble   # the whole pipeline (demo data without Kaggle credentials)"
	@echo "make test                           # the test suite"
	@echo
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'
