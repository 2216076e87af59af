#!/usr/bin/env bash
# The run step of the composite Action (action.yml): install the suite, run it against one
# target, append matrix.md to the job summary, and report the suite's exit code. Runs outside
# GitHub as well (tests/test_action.py does): point GITHUB_STEP_SUMMARY and GITHUB_OUTPUT at
# files, or leave them unset.
#
# Inputs, from the environment (action.yml maps its inputs to these):
#   CONFORMANCE_TARGET         a target shipped with the suite (cases/targets/<name>.yaml)
#   CONFORMANCE_TARGET_FILE    or a target file of the caller's, e.g. .github/conformance/acme.yaml
#   CONFORMANCE_PROFILE_FILE   optional: a profile file of the caller's (cases/profiles/<name>.yaml)
#   CONFORMANCE_BASE_URL, CONFORMANCE_MODEL   optional overrides (--base-url, --model)
#   CONFORMANCE_API_KEY_ENV    optional: the NAME of the variable that holds the key (--api-key-env)
#   CONFORMANCE_MODE           live | record | replay (default live)
#   CONFORMANCE_EXPECTATIONS   optional: --expectations=FILE (needs a suite version that has it)
#   CONFORMANCE_REPORT_DIR     where results.json, index.html, matrix.md go (default conformance-report)
#   CONFORMANCE_ARTIFACT_NAME  optional: artifact name (default anthropic-conformance-<target>)
#   CONFORMANCE_EXTRA_ARGS     optional: more pytest arguments, split on whitespace (e.g. "-n 2")
#   CONFORMANCE_INSTALL        true (default): the README's install into a venv of its own;
#                              false: use the python on PATH, which must have the suite
#   CONFORMANCE_PYTHON         the interpreter that makes that venv (default python3)
#   CONFORMANCE_DEFER_EXIT     true: exit 0 after writing the exit-code output (the Action's
#                              last step exits with it, so the report is uploaded first)
#
# Outputs (GITHUB_OUTPUT): exit-code, outcome (pass | findings | unjudged | usage | error),
# report-dir, results, matrix, artifact-name. The key is never read, printed or written here:
# the suite reads it from the variable named by the target file or by CONFORMANCE_API_KEY_ENV.
#
# Exit codes: the suite's (README, "Exit codes"; conformance/exitcodes.py): 0 every row as
# declared or known, 1 findings (new deviations, stale expectations), 3 rows not judged
# (endpoint unreachable, transport failures, broken cassettes), 4 usage errors (bad inputs
# found here before the suite runs too), other = error.
set -euo pipefail

SUITE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER_DIR="$(pwd)"
WORK="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/anthropic-conformance-action"
: "${GITHUB_OUTPUT:=/dev/null}"
: "${GITHUB_STEP_SUMMARY:=/dev/null}"

die() {  # bad input: one line, exit 4 like the suite's usage errors (or defer it)
  echo "::error title=anthropic-conformance::$1" >&2
  finish 4
}
output() { printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; }
abspath() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$CALLER_DIR" "$1" ;; esac; }
finish() {
  local code=$1 outcome=error
  case "$code" in  # conformance/exitcodes.py's OUTCOMES
    0) outcome=pass ;;
    1) outcome=findings ;;
    3) outcome=unjudged ;;
    4) outcome=usage ;;
  esac
  output exit-code "$code"
  output outcome "$outcome"
  if [ "${CONFORMANCE_DEFER_EXIT:-false}" = true ]; then exit 0; fi
  exit "$code"
}

mode="${CONFORMANCE_MODE:-live}"
case "$mode" in live | record | replay) ;; *) die "mode must be live, record or replay, not '$mode'" ;; esac
target="${CONFORMANCE_TARGET:-}"
target_file="${CONFORMANCE_TARGET_FILE:-}"
if [ -n "$target_file" ]; then
  target_file="$(abspath "$target_file")"
  [ -f "$target_file" ] || die "target-file $CONFORMANCE_TARGET_FILE: no such file"
  stem="$(basename "$target_file")"
  stem="${stem%.yaml}"
  stem="${stem%.yml}"
  [ -z "$target" ] || [ "$target" = "$stem" ] \
    || die "target '$target' and target-file $CONFORMANCE_TARGET_FILE disagree (the file's name is the target's name)"
  target="$stem"
fi
if [ -z "$target" ]; then
  known=""
  for f in "$SUITE_DIR"/cases/targets/*.yaml; do known+=" $(basename "$f" .yaml)"; done
  die "give a target (one of:$known) or a target-file"
fi
[[ "$target" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "target '$target': use letters, digits, '.', '_', '-'"
key_env="${CONFORMANCE_API_KEY_ENV:-}"
[ -z "$key_env" ] || [[ "$key_env" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] \
  || die "api-key-env must be the NAME of an environment variable (e.g. ACME_API_KEY), not its value"

report_dir="$(abspath "${CONFORMANCE_REPORT_DIR:-conformance-report}")"
artifact="${CONFORMANCE_ARTIFACT_NAME:-anthropic-conformance-$target}"
output report-dir "$report_dir"
output results "$report_dir/results.json"
output matrix "$report_dir/matrix.md"
output artifact-name "$artifact"

# README: Install. A venv of its own, so the caller's Python stays as it was.
if [ "${CONFORMANCE_INSTALL:-true}" = true ]; then
  echo "anthropic-conformance: installing the suite from $SUITE_DIR (pip install -e '.[dev]')"
  "${CONFORMANCE_PYTHON:-python3}" -m venv "$WORK/venv"
  "$WORK/venv/bin/python" -m pip install --disable-pip-version-check -q -e "${SUITE_DIR}[dev]" \
    || die "installing the suite failed (see the pip output above)"
  py="$WORK/venv/bin/python"
else
  py="$(command -v python || command -v python3)" || die "install: false, and no python on PATH"
  "$py" -c "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ('conformance', 'anthropic'))))" \
    || die "install: false, but $py cannot import the suite and its SDK (pip install -e '.[dev]')"
fi

args=("--target=$target" "--mode=$mode" "--report-dir=$report_dir")
if [ -n "${CONFORMANCE_TARGET_FILE:-}" ] || [ -n "${CONFORMANCE_PROFILE_FILE:-}" ]; then
  # The caller's files go into a copy of the suite's cases/, which --cases-dir then names (and
  # which pytest collects). A caller's file with a shipped name replaces the shipped one.
  cases="$WORK/cases"
  rm -rf "$cases"
  mkdir -p "$WORK"
  cp -R "$SUITE_DIR/cases" "$cases"
  [ -z "$target_file" ] || cp "$target_file" "$cases/targets/$target.yaml"
  if [ -n "${CONFORMANCE_PROFILE_FILE:-}" ]; then
    profile_file="$(abspath "$CONFORMANCE_PROFILE_FILE")"
    [ -f "$profile_file" ] || die "profile-file $CONFORMANCE_PROFILE_FILE: no such file"
    cp "$profile_file" "$cases/profiles/$(basename "$profile_file")"
  fi
  args=("$cases" "--cases-dir=$cases" "${args[@]}")
fi
[ -z "${CONFORMANCE_BASE_URL:-}" ] || args+=("--base-url=$CONFORMANCE_BASE_URL")
[ -z "${CONFORMANCE_MODEL:-}" ] || args+=("--model=$CONFORMANCE_MODEL")
if [ -n "$key_env" ]; then
  # Not named in the message: a key pasted here may look like a variable name.
  [ "$mode" = replay ] || [ -n "${!key_env:-}" ] \
    || die "the variable that api-key-env names is empty or not set: set it from a secret in the step's env"
  args+=("--api-key-env=$key_env")
fi
if [ -n "${CONFORMANCE_EXPECTATIONS:-}" ]; then
  expectations="$(abspath "$CONFORMANCE_EXPECTATIONS")"
  [ -f "$expectations" ] || die "expectations $CONFORMANCE_EXPECTATIONS: no such file"
  # Read the whole help first: `pytest --help | grep -q` can end in SIGPIPE under pipefail.
  help_text="$(cd "$SUITE_DIR" && "$py" -m pytest --help 2>/dev/null || true)"
  [[ "$help_text" == *--expectations* ]] \
    || die "expectations given, but this suite version has no --expectations option (use a newer ref of the Action)"
  args+=("--expectations=$expectations")
fi
if [ -n "${CONFORMANCE_EXTRA_ARGS:-}" ]; then
  read -r -a extra <<<"$CONFORMANCE_EXTRA_ARGS"
  args+=("${extra[@]}")
fi

echo "anthropic-conformance: pytest ${args[*]}"
# The suite appends matrix.md to $GITHUB_STEP_SUMMARY itself; it gets a file of its own here,
# so the job summary opens with the target and the verdict, and the matrix comes once, after.
mkdir -p "$WORK"
suite_summary="$WORK/suite-summary.md"
: >"$suite_summary"
started="$WORK/started"
touch "$started"
set +e
(cd "$SUITE_DIR" && GITHUB_STEP_SUMMARY="$suite_summary" "$py" -m pytest "${args[@]}")
code=$?
set -e

case "$code" in
  0) verdict="every row matches its declaration or is a known deviation (expectations)" ;;
  1) verdict="new deviations, or stale expectations (findings): this fails the job" ;;
  3) verdict="rows could not be judged (endpoint unreachable, transport failures or broken cassettes; the diagnosis is in the job log): this fails the job" ;;
  4) verdict="a usage error (options or input files): see the job log" ;;
  *) verdict="the run did not finish cleanly (pytest exit $code): see the job log" ;;
esac
{
  echo "## anthropic-conformance: $target ($mode)"
  echo
  echo "Exit code $code: $verdict."
  echo
  # A suite that no longer appends it itself: the matrix.md this run wrote.
  if [ ! -s "$suite_summary" ] && [ "$report_dir/matrix.md" -nt "$started" ]; then
    cp "$report_dir/matrix.md" "$suite_summary"
  fi
  if [ -s "$suite_summary" ]; then
    # The job summary takes at most 1 MiB per step; the whole report is in the artifact.
    head -c 900000 "$suite_summary"
    [ "$(wc -c <"$suite_summary")" -le 900000 ] \
      || printf '\n\n(matrix cut here: the whole report is in the artifact %s)\n' "$artifact"
  else
    echo "No matrix was written: see the job log."
  fi
} >>"$GITHUB_STEP_SUMMARY"
echo "anthropic-conformance: exit $code ($verdict); report in $report_dir"
finish "$code"
