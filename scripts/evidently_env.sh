#!/usr/bin/env bash
# A virtualenv of its own for Evidently, the single-node peer of the drift benchmark.
# Evidently needs pandas < 3, which the project's .venv does not have, so it lives apart
# (under .cache/, git-ignored) and runs benchmarks/evidently_peer.py as a subprocess.
# Idempotent: skipped when the venv was completed with exactly these pins.
#
#   bash scripts/evidently_env.sh          create (or check) the virtualenv
#   bash scripts/evidently_env.sh python   the same, then print its python's path on stdout
source "$(dirname "$0")/common.sh"

# Verified together on Python 3.11: the data-drift preset of this Evidently release
# (`from evidently import Report; from evidently.presets import DataDriftPreset`).
PINS="evidently==0.7.23 pandas==2.3.3 pyarrow==26.0.1 numpy==2.4.6 scipy==1.17.1"
EV_VENV="$CACHE/bench/evidently-venv"
EV_PY="$EV_VENV/bin/python"
stamp="$EV_VENV/.skewguard-requirements"

case "${1:-}" in
  "" | python) ;;
  *) die "usage: bash scripts/evidently_env.sh [python]" ;;
esac

if [[ -x "$EV_PY" && -f "$stamp" && "$(cat "$stamp")" == "$PINS" ]]; then
  log "Evidently virtualenv up to date: $EV_VENV"
else
  PY="${PYTHON:-python3}"
  command -v "$PY" >/dev/null || die "python3 not found (Python >= 3.11 is required)"
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "$("$PY" --version 2>&1) is too old: the Evidently peer needs Python >= 3.11"
  # A half-built or differently pinned venv is rebuilt from scratch, never patched.
  rm -rf "$EV_VENV"
  mkdir -p "$(dirname "$EV_VENV")"
  log "creating the Evidently virtualenv $EV_VENV ($PINS; first time: a minute or two)"
  "$PY" -m venv "$EV_VENV" || die "could not create a virtualenv with $PY (is the venv module installed?)"
  "$EV_PY" -m pip install --quiet --upgrade pip >/dev/null \
    || die "pip upgrade failed: is the package index reachable?"
  # shellcheck disable=SC2086  # PINS is a list of requirement specifiers
  "$EV_PY" -m pip install --quiet $PINS || die "pip install of $PINS failed (see pip's output above)"
  DO_NOT_TRACK=1 "$EV_PY" -c 'from evidently import Report; from evidently.presets import DataDriftPreset' \
    || die "Evidently installed but its data-drift preset does not import"
  echo "$PINS" >"$stamp"
  log "Evidently virtualenv ready: $EV_VENV"
fi

if [[ "${1:-}" == python ]]; then
  echo "$EV_PY"
fi
