#!/usr/bin/env bash
# Every GPU figure the README needs, in one call of under 8 minutes (`make bench-gpu`).
#
# Runs `benchmarks.bench_speed` (random clips through make train's own feeder, augmentation and
# models) at the full model size on whichever Keras backends are installed:
#   1. JAX, mixed precision + XLA (the GPU default): feed-only rates, every default model,
#      and one real epoch of 60,000 clips of crnn_resnet;
#   2. JAX with float32 and with XLA off, for two models: what mixed precision and XLA buy;
#   3. PyTorch, mixed precision, eager (its GPU default): every default model;
#   4. PyTorch with torch.compile, one model.
# TensorFlow is not needed (the GPU machines this was written for have JAX and PyTorch only);
# where it is installed, BACKENDS="tensorflow jax torch" adds it.
#
#   bash benchmarks/gpu.sh [OUT_DIR]      # default artifacts/bench/gpu; speed.jsonl + log.txt there
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/bench/gpu}
mkdir -p "$out"
py=${PYTHON:-python3}
backends=${BACKENDS:-jax torch}
deadline=$((SECONDS + ${BUDGET_S:-450}))  # the whole script; each step gets what is left
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3 XLA_PYTHON_CLIENT_PREALLOCATE=false

{ nvidia-smi -L 2>&1 || echo "no nvidia-smi"; KERAS_BACKEND=${backends%% *} $py -c "import platform, keras; print('python', platform.python_version(), 'keras', keras.__version__, 'backend', keras.backend.backend())"; } \
    | tee "$out/log.txt"

step() {  # step NAME BACKEND CAP_S ARGS...: one bench_speed process, cut off at CAP_S or the deadline
    local name=$1 backend=$2 cap=$3; shift 3
    local left=$((deadline - SECONDS))
    ((left > cap)) && left=$cap
    if ((left < 20)); then echo "=== $name: skipped, out of time" | tee -a "$out/log.txt"; return; fi
    echo "=== $name (KERAS_BACKEND=$backend, up to ${left}s)" | tee -a "$out/log.txt"
    KERAS_BACKEND=$backend timeout -k 5 "$left" $py -m benchmarks.bench_speed --profile "${PROFILE:-full}" --json "$out/speed.jsonl" "$@" 2>&1 \
        | grep -vE "^(I0000|W0000|W1[0-9]{3} |WARNING: All log)|absl::InitializeLog|_dynamo|^  " | tee -a "$out/log.txt"
}

for b in $backends; do
    case $b in
    jax)
        step "jax: mixed precision, XLA" jax 220 --seconds 6 --epoch crnn_resnet
        step "jax: float32, XLA" jax 60 --seconds 5 --no-feed --precision float32 --models crnn_resnet cnn_resnet
        step "jax: mixed precision, no XLA" jax 50 --seconds 5 --no-feed --jit off --models crnn_resnet cnn_resnet ;;
    torch)
        step "torch: mixed precision, eager" torch 120 --seconds 5
        step "torch: mixed precision, torch.compile" torch 60 --seconds 5 --no-feed --jit on --models cnn_resnet ;;
    tensorflow)
        step "tensorflow: mixed precision, XLA" tensorflow 200 --seconds 5
        step "tensorflow: mixed precision, no XLA" tensorflow 60 --seconds 5 --no-feed --jit off --models crnn_resnet ;;
    esac
done
echo "done in ${SECONDS}s; rows in $out/speed.jsonl" | tee -a "$out/log.txt"
