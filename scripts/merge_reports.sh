#!/usr/bin/env bash
# Merge the reports of many runs (one per provider, from any number of machines) into one
# support matrix. Give it the folder the artifacts were downloaded to, e.g. after
#   gh run download RUN_ID --pattern 'anthropic-conformance-*' --dir artifacts/
# (one sub-folder per artifact, each with its results.json):
#   scripts/merge_reports.sh artifacts/ site/ [--previous old.json] [--fail-on-regression] ...
# Every results.json under the folder goes to `python -m conformance report`, in a stable
# (sorted) order, with --declared <suite>/cases/ so providers that were not run still show
# their declared column; further arguments are passed through. Uses the `python` on PATH
# (the suite installed with the README's install), or $PYTHON.
# With GITHUB_STEP_SUMMARY set, the merged matrix.md is appended to it (once).
# Exit codes (README, "Exit codes"): the report command's (0 done, 1 a regression with
# --fail-on-regression, 4 bad input), and 4 when the folder holds no results.json.
set -euo pipefail
SUITE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 2 ] || [ ! -d "$1" ]; then
  echo "usage: $0 ARTIFACTS_DIR OUTPUT_DIR [report options...]" >&2
  exit 4
fi
src="$1" out="$2"
shift 2
results=()
while IFS= read -r -d '' f; do results+=("$f"); done \
  < <(find "$src" -name results.json -type f -print0 | LC_ALL=C sort -z)
if [ ${#results[@]} -eq 0 ]; then
  echo "merge_reports: no results.json under $src" >&2
  exit 4
fi
printf 'merge_reports: %s\n' "${results[@]}"
# The report command appends matrix.md to $GITHUB_STEP_SUMMARY itself; should it stop doing
# so, the matrix.md it wrote goes there instead.
summary="${GITHUB_STEP_SUMMARY:-}"
size() { if [ -f "$1" ]; then wc -c <"$1"; else echo 0; fi; }
before="$(size "$summary")"
set +e
"${PYTHON:-python}" -m conformance report "${results[@]}" -o "$out" \
  --declared "$SUITE_DIR/cases" "$@"
code=$?
set -e
if [ -n "$summary" ] && [ -f "$out/matrix.md" ] \
    && [ "$(size "$summary")" -eq "$before" ]; then
  cat "$out/matrix.md" >>"$summary"
fi
exit "$code"
