#!/usr/bin/env bash
# CI for issue 14: the real-LLM test's engine and model, both cached on this machine.
# - llama-cpp-python[server]==0.3.36 has no binary wheel on PyPI: reuse a wheel built here
#   before (~/.cache/lbi_icl/wheels, else pip's wheel cache), else compile once (~10 min on
#   2 cores) into ~/.cache/lbi_icl/wheels.
# - the pinned fixture model: `lbi model prepare` (instant once cached in ~/.cache/lbi_icl).
# Idempotent; a few seconds when both are cached. Run after the README set-up command.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate

VER=0.3.36
WHEELS="${LBI_WHEEL_CACHE:-$HOME/.cache/lbi_icl/wheels}"
mkdir -p "$WHEELS"

if ! python -c "import llama_cpp.server" >/dev/null 2>&1; then
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$VER"-*.whl 2>/dev/null | head -n 1 || true)
    if [ -z "$wheel" ]; then
        pip_cache=$(pip cache dir 2>/dev/null || true)
        if [ -n "$pip_cache" ] && [ -d "$pip_cache/wheels" ]; then
            wheel=$(find "$pip_cache/wheels" -name "llama_cpp_python-$VER-*.whl" 2>/dev/null \
                | head -n 1 || true)
        fi
        if [ -n "$wheel" ]; then
            cp "$wheel" "$WHEELS/"
        else
            echo "setup-llm: compiling llama-cpp-python $VER (once per machine, ~10 min)"
            CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" \
                pip wheel --no-deps "llama-cpp-python==$VER" -w "$WHEELS"
        fi
        wheel=$(ls "$WHEELS"/llama_cpp_python-"$VER"-*.whl | head -n 1)
    fi
    pip install "$wheel" "llama-cpp-python[server]==$VER" --find-links "$WHEELS" \
        --only-binary llama-cpp-python -c constraints-cpu.txt
fi
python -c "import llama_cpp, llama_cpp.server; print('llama-cpp-python', llama_cpp.__version__)"
lbi model prepare
