# shellcheck shell=bash
# Sourced by install_servers.sh (and tests/test_setup.py): install the registry's newest version
# of a translator without letting its failure stop the run.
#
# try_newest NAME WHAT CMD...: run CMD (an install); if it fails, say which dependency pip or
# npm could not find on the registry and carry on (return 0). The client's whole output stays
# in $NEWEST_LOGS/NAME.log.
try_newest() {
  local what="$2" log="$NEWEST_LOGS/$1.log" dep
  shift 2
  mkdir -p "$NEWEST_LOGS"
  echo "install_servers: installing $what..." >&2
  if "$@" >"$log" 2>&1; then
    return 0
  fi
  dep="$(sed -nE -e "s/.*No matching distribution found for ([^;]+).*/\1/p" \
    -e "s/.*404 +The requested resource '([^']+)' could not be found.*/\1/p" "$log" | head -n1)"
  if [ -n "$dep" ]; then
    echo "install_servers: $what does not install from the registry: its dependency $dep" \
      "is not there; carrying on without it ($log)" >&2
  else
    echo "install_servers: $what failed to install:" \
      "$(grep -m1 -iE 'error' "$log" || tail -n1 "$log"); carrying on without it ($log)" >&2
  fi
  return 0
}
