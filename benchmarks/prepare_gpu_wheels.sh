#!/usr/bin/env bash
# Download, here, the wheels the GPU machine lacks into .whl/ (git-ignored), for benchmarks/gpu_session.sh.
#
#     benchmarks/prepare_gpu_wheels.sh            # once, on a machine that reaches PyPI
#
# The GPU machine (/work/.library/device/README.md) runs Python 3.12 with a CUDA build of PyTorch, NumPy,
# SciPy, scikit-learn, matplotlib, rich, pytest and hypothesis, but cannot reach a package registry and has
# no pydantic or lark. The wheels are the versions installed in this checkout's .venv (what the suite is
# tested with here), built for CPython 3.12 on x86-64 Linux; typer and typing_extensions travel too, so
# that the CLI runs on the same versions as here. A session then passes ".whl" in the device tool's
# `carry` and gpu_session.sh installs them offline (pip --no-index) into /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PACKAGES=(lark pydantic pydantic_core annotated_types typing_inspection typing_extensions typer annotated_doc)

pins=()
for name in "${PACKAGES[@]}"; do
    version=$("$PY" -c "from importlib.metadata import version; print(version('$name'))")
    pins+=("$name==$version")
done
rm -rf .whl
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "${pins[@]}"
echo "downloaded into .whl/ (carry it: run(carry=[\".whl\"], ...)):"
ls -1 .whl
du -sh .whl
