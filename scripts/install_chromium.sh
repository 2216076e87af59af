#!/usr/bin/env bash
# Install headless Chromium for tests/test_report_browser.py (the support-matrix page in a
# real browser), and poppler-utils (pdftotext, pdfinfo) for its print check. Idempotent:
# does nothing when /usr/bin/chromium and pdftotext already exist, as they do on GitHub's
# ubuntu runners and after a first run here.
#   Debian:  chromium + chromium-driver from the distribution (what the tests were written on)
#   Other:   install any Chromium/Chrome yourself and point CHROMIUM_BIN at it.
set -euo pipefail
if [ -x /usr/bin/chromium ] && command -v pdftotext >/dev/null 2>&1; then
  echo "install_chromium: /usr/bin/chromium and pdftotext already present" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: no apt-get here; install Chromium and set CHROMIUM_BIN" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
PKGS=""
if ! [ -x /usr/bin/chromium ]; then PKGS="chromium chromium-driver fonts-dejavu-core"; fi
if ! command -v pdftotext >/dev/null 2>&1; then PKGS="$PKGS poppler-utils"; fi
# shellcheck disable=SC2086  # a list of package names
$SUDO apt-get install -y -q --no-install-recommends $PKGS
if ! [ -x /usr/bin/chromium ]; then
  # Ubuntu's "chromium" is a snap wrapper; its confinement cannot read the tests' tmp files.
  echo "install_chromium: /usr/bin/chromium still missing; set CHROMIUM_BIN to a Chrome" >&2
  exit 1
fi
/usr/bin/chromium --version || true
