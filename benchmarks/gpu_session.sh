#!/usr/bin/env bash
# The one prepared script for a session with a GPU: the CUDA tests and the GPU benchmark, results in $OUT.
#
# Here, once (needs PyPI):     benchmarks/prepare_gpu_wheels.sh        # fills .whl/ (git-ignored)
# On the GPU machine, through the device tool (/work/.library/device/README.md), in one call:
#     run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=600)
# Elsewhere (any CUDA machine with this project's dependencies): OUT=gpu-results bash benchmarks/gpu_session.sh
#
# What it does, each step bounded so that the whole ends within about 9 minutes (set TEST_SECONDS and
# BENCH_SECONDS to change the bounds):
#   1. installs the carried wheels offline into /tmp/site, where .whl/ exists and pydantic or lark is
#      missing (the GPU machine has Python 3.12 with a CUDA PyTorch, NumPy, SciPy, scikit-learn,
#      matplotlib, rich, pytest and hypothesis, but no pydantic or lark, and reaches no package registry);
#   2. writes $OUT/environment.txt: nvidia-smi, Python, PyTorch and CUDA versions, what PyTorch sees;
#   3. runs tests/test_cuda.py (pytest, verbose, skip reasons shown): $OUT/test_cuda.log, .xml;
#   4. runs benchmarks/bench_gpu.py on cuda:0 (the full run: three workloads, float32 with TF32 and
#      mixed_bfloat16): $OUT/bench_gpu.log, $OUT/bench_gpu.json.
# Exit status: that of the tests, or else of the benchmark (0 when both passed). Everything the steps
# print is in $OUT (the tool brings back at most 8 files), and on the terminal.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYDANTIC_DISABLE_PLUGINS=__all__
unset NNSPEC_REQUIRE_BACKENDS  # the GPU machine has no TensorFlow or Keras; test_cuda.py needs torch only

if compgen -G ".whl/*.whl" >/dev/null && ! "$PY" -c "import pydantic, lark" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "gpu_session: installing the carried wheels failed" | tee "$OUT/environment.txt"; exit 2; }
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

{
    echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$PY" - <<'EOF'
import platform, sys
import torch
print(f"Python {platform.python_version()} ({sys.executable}); torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version()}")
print(f"torch.cuda.is_available() = {torch.cuda.is_available()}; devices: "
      + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
import compiler, lark, pydantic, typer
print(f"nnspec {compiler.__version__}; pydantic {pydantic.VERSION}, lark {lark.__version__}, typer {typer.__version__}")
EOF
} 2>&1 | tee "$OUT/environment.txt"

echo "== tests/test_cuda.py"
timeout "${TEST_SECONDS:-420}" "$PY" -m pytest -p no:cacheprovider -v -rs tests/test_cuda.py \
    --junitxml="$OUT/test_cuda.xml" 2>&1 | tee "$OUT/test_cuda.log"
tests=${PIPESTATUS[0]}
[ "$tests" = 124 ] && echo "gpu_session: tests/test_cuda.py ran past ${TEST_SECONDS:-420} s and was stopped" \
    | tee -a "$OUT/test_cuda.log"

echo "== benchmarks/bench_gpu.py"
timeout "${BENCH_SECONDS:-130}" "$PY" benchmarks/bench_gpu.py --device cuda --json "$OUT/bench_gpu.json" 2>&1 \
    | tee "$OUT/bench_gpu.log"
bench=${PIPESTATUS[0]}
[ "$bench" = 124 ] && echo "gpu_session: bench_gpu.py ran past ${BENCH_SECONDS:-130} s and was stopped" \
    | tee -a "$OUT/bench_gpu.log"

echo "gpu_session: tests exit $tests, benchmark exit $bench; results in $OUT"
[ "$tests" != 0 ] && exit "$tests"
exit "$bench"
