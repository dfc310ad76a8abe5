#!/usr/bin/env bash
# The render parity check on a GPU machine. Run it from the repository root (a fallback build needs CMakeLists.txt):
#   bash native/cuda/device_check.sh [BIN_DIR]        (BIN_DIR default .device-bin)
# BIN_DIR holds mesoguard-render-parity and mesoguard-render-parity-fmad, built elsewhere (static cudart):
#   cmake -S . -B build-parity -DMESOGUARD_PARITY_ONLY=ON -DMESOGUARD_PARITY_FMAD_PROBE=ON && cmake --build build-parity
#   mkdir -p .device-bin && cp build-parity/Release/mesoguard-render-parity* .device-bin/
# Where a carried binary cannot start here (other system libraries), it is built here the same way, if nvcc and
# cmake are present. Expected: the parity check agrees everywhere (exit 0) and the -fmad probe, the kernel compiled
# with nvcc's FMA contraction, differs (exit 1): the check does catch contraction. JSON reports go to $OUT when set.
# Exit: 0 when both are as expected, 1 otherwise.
set -uo pipefail

BIN_DIR="${1:-.device-bin}"
OUT_DIR="${OUT:-}"
REPS="${REPS:-3}"

echo "== GPU"
nvidia-smi -L || echo "nvidia-smi failed (exit $?)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

# Builds both binaries here into build-parity-device/Release (only where a carried one cannot start).
build_here() {
  if ! command -v nvcc >/dev/null || ! command -v cmake >/dev/null; then
    echo "cannot build here: nvcc or cmake missing"
    return 1
  fi
  echo "== building the parity check here ($(nvcc --version | tail -1))"
  cmake -S . -B build-parity-device -DMESOGUARD_PARITY_ONLY=ON -DMESOGUARD_PARITY_FMAD_PROBE=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null && cmake --build build-parity-device -j 8 >/dev/null
}

# Whether the binary starts at all (the loader finds its libraries): --help exits 0.
starts() { [ -x "$1" ] && "$1" --help >/dev/null 2>&1; }

parity="$BIN_DIR/mesoguard-render-parity"
probe="$BIN_DIR/mesoguard-render-parity-fmad"
if ! starts "$parity" || ! starts "$probe"; then
  echo "carried binaries in $BIN_DIR missing or not starting here:"
  ldd "$parity" 2>&1 | grep -i "not found" || true
  if build_here; then
    parity=build-parity-device/Release/mesoguard-render-parity
    probe=build-parity-device/Release/mesoguard-render-parity-fmad
  fi
fi

# Runs one binary with --json: the report to the terminal (and $OUT/NAME.txt), the JSON to $OUT/NAME.json.
run_check() {
  local bin="$1" name="$2" status
  if [ -n "$OUT_DIR" ]; then
    MESOGUARD_EXPECT_GPU=1 "$bin" --json --reps "$REPS" >"$OUT_DIR/$name.json" 2> >(tee "$OUT_DIR/$name.txt" >&2)
    status=$?
  else
    MESOGUARD_EXPECT_GPU=1 "$bin" --json --reps "$REPS" >/dev/null
    status=$?
  fi
  return "$status"
}

echo "== parity check (kernel built with -fmad=false): expect exit 0"
run_check "$parity" render-parity
parity_status=$?
echo "exit $parity_status"

echo "== FMA probe (kernel built with nvcc's default contraction): expect exit 1"
run_check "$probe" render-parity-fmad
probe_status=$?
echo "exit $probe_status"

if [ "$parity_status" -eq 0 ] && [ "$probe_status" -eq 1 ]; then
  echo "DEVICE CHECK PASSED: CPU and GPU renders agree exactly; the contracting build differs, as it should"
  exit 0
fi
echo "DEVICE CHECK FAILED: parity exit $parity_status (want 0), FMA probe exit $probe_status (want 1)"
exit 1
