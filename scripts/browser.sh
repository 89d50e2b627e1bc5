#!/usr/bin/env bash
# Headless Chromium for the tests that load a rendered page (e.g. the drift report).
#
#   scripts/browser.sh ensure   install Debian's chromium package unless /usr/bin/chromium is there
#   scripts/browser.sh path     print the browser's path (fails if it is not installed)
#
# Only Debian's own package is used: downloaded browser builds cannot be fetched here.
source "$(dirname "$0")/common.sh"

CHROMIUM="${SKEWGUARD_CHROMIUM:-/usr/bin/chromium}"
INSTALL_LOG="$CACHE/browser-install.log"

cmd="${1:-}"

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

has_candidate() {
  # An empty or stale package list knows no installable chromium.
  local candidate
  candidate="$(apt-cache policy chromium 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
  [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

apt_install() {
  # dpkg's unpacking chatter goes to the log, shown only when the install fails.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
    >>"$INSTALL_LOG" 2>&1
}

ensure() {
  [[ -x "$CHROMIUM" ]] && return 0
  if [[ "$(id -u)" -ne 0 ]] && ! sudo -n true 2>/dev/null; then
    die "Chromium is missing at $CHROMIUM: install the Debian package chromium (as root: apt-get install chromium)"
  fi
  command -v apt-get >/dev/null || die "Chromium is missing at $CHROMIUM and apt-get is not available: install the Debian package chromium"
  mkdir -p "$CACHE"; : >"$INSTALL_LOG"
  local updated=0
  if ! has_candidate; then
    log "refreshing the package lists (apt-get update)"
    as_root apt-get update -qq || die "apt-get update failed"
    updated=1
  fi
  log "installing Debian's chromium package"
  if ! apt_install; then
    # A list older than the mirror names package versions the mirror no longer has.
    (( updated )) && die "apt-get install chromium failed: $(tail -n 5 "$INSTALL_LOG")"
    log "install failed; refreshing the package lists and trying once more"
    as_root apt-get update -qq || die "apt-get update failed"
    apt_install || die "apt-get install chromium failed: $(tail -n 5 "$INSTALL_LOG")"
  fi
  [[ -x "$CHROMIUM" ]] || die "the chromium package is installed but $CHROMIUM is missing"
  log "Chromium ready: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
}

case "$cmd" in
  ensure) ensure ;;
  path)
    [[ -x "$CHROMIUM" ]] || die "Chromium is missing at $CHROMIUM: run scripts/browser.sh ensure"
    echo "$CHROMIUM" ;;
  *) die "usage: scripts/browser.sh ensure|path" ;;
esac
