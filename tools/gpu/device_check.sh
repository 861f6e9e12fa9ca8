#!/usr/bin/env bash
# The GPU check, as one script for the device tool (a lent GPU machine, offline, 10 min
# a command). It times one attack step (bench-interpreters) and full-schedule paper cells on the
# CUDA build (DEVICE=cuda, the default) or the wgpu build (DEVICE=wgpu, or wgpu:cpu for Mesa's
# lavapipe; build with --features wgpu instead), with random ResNet-50 weights (init-weights: no
# torchvision weights exist here).
#
# Prepare here (see README "GPU"), then carry `.gpu`:
#   CARGO_TARGET_DIR=/work/target-cuda cargo build --offline --release -p xtask --features cuda
#   mkdir -p .gpu && gzip -9 -c /work/target-cuda/release/xtask > .gpu/xtask.gz
#   cp -r ../shared/data/imagenet-samples .gpu/          # 11 MB; .gpu/ is git-ignored
# Run there:  bash tools/gpu/device_check.sh            (writes everything to $OUT)
# Try here:   BIN=target/release/xtask DEVICE=cpu PROFILE=paper-smoke OUT=/tmp/gpu-out \
#             ADVEDGE_DATA=../shared/data bash tools/gpu/device_check.sh
set -uo pipefail
OUT=${OUT:?set OUT}
DEVICE=${DEVICE:-cuda}
PROFILE=${PROFILE:-paper}
CELLS=${CELLS:-resnet50/pgd/cam/advedge+ resnet50/pgd/grad/advedge+}
export ADVEDGE_DATA=${ADVEDGE_DATA:-$PWD/.gpu}
mkdir -p "$OUT"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
if [ -z "${BIN:-}" ]; then
  BIN=/tmp/xtask-cuda
  gunzip -c .gpu/xtask.gz > "$BIN" && chmod +x "$BIN" || { log "no .gpu/xtask.gz"; exit 2; }
fi
if [[ $DEVICE == cuda* ]]; then
  (nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv) > "$OUT/gpu.txt" 2>&1
  # cudarc loads libnvrtc at run time: add the first folder that holds one (toolkit or wheel).
  nvrtc=$(find / -xdev -name 'libnvrtc.so*' 2>/dev/null | head -1)
  [ -n "$nvrtc" ] && export LD_LIBRARY_PATH="$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  log "nvrtc: ${nvrtc:-none found}"
fi
if [[ $DEVICE == wgpu* ]]; then
  (vulkaninfo --summary || echo "no vulkaninfo (Debian: vulkan-tools)") > "$OUT/gpu.txt" 2>&1
fi
W=/tmp/advedge-random-weights
log "init-weights resnet50"
"$BIN" init-weights --model resnet50 --out-dir "$W" >> "$OUT/log.txt" 2>&1; log "init-weights exit $?"
export ADVEDGE_WEIGHTS=$W
log "bench-interpreters on $DEVICE"
timeout 200 "$BIN" bench-interpreters --model resnet50 --weights-dir "$W" --device "$DEVICE" --batches "${BATCHES:-1,10}" \
  --reps 3 --out "$OUT/bench.md" >> "$OUT/log.txt" 2>&1; log "bench exit $?"
R=/tmp/advedge-results
for cell in $CELLS; do
  log "cell $cell ($PROFILE)"
  timeout 240 "$BIN" reproduce main --profile "$PROFILE" --device "$DEVICE" --any-images --limit 2 \
    --filter "$cell" --results "$R" >> "$OUT/log.txt" 2>&1; log "cell exit $?"
done
# Per-cell seconds per image and the manifests' device and wall time, in one small file.
for m in "$R"/*/cells/*.json; do
  case $m in *.transfer.json|*.maps.json|*.partial.json|*.detmaps-*) continue ;; esac
  echo "== $m"; cat "$m"; echo
done > "$OUT/manifests.txt" 2>/dev/null
cp "$R"/*/summary.csv "$OUT/" 2>/dev/null
log done
