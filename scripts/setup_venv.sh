#!/usr/bin/env bash
# Create the project's virtualenv and install skewguard with its pinned dependencies.
# Idempotent: re-installs only when pyproject.toml changed since the last install.
source "$(dirname "$0")/common.sh"

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || die "python3 not found (Python >= 3.11 is required)"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$("$PY" --version 2>&1) is too old: skewguard needs Python >= 3.11"

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating virtualenv $VENV"
  "$PY" -m venv "$VENV" || die "could not create a virtualenv with $PY (is the venv module installed?)"
fi
stamp="$VENV/.skewguard-installed"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  log "virtualenv up to date"
  exit 0
fi
log "installing skewguard and its dependencies into $VENV (first time: a few minutes)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null \
  || die "pip upgrade failed: is the package index reachable?"
"$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev]" --config-settings editable_mode=compat \
  || die "pip install of skewguard[dev] failed (see pip's output above)"
echo "$want" > "$stamp"
log "virtualenv ready: $VENV"
