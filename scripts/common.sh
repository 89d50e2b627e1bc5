# Shared by the set-up scripts: paths, logging, failing loudly.
# shellcheck shell=bash
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
source "$ROOT/scripts/versions.env"
CACHE="${SKEWGUARD_CACHE:-$ROOT/.cache}"
VENV="${SKEWGUARD_VENV:-$ROOT/.venv}"
JARS_DIR="$CACHE/jars"

log() { printf '[skewguard] %s\n' "$*" >&2; }
die() { printf '[skewguard] error: %s\n' "$*" >&2; exit 1; }

java17_home() {
  # The machine's JDK 17 (Elasticsearch, Spark and the connector are all verified with it).
  if [[ -n "${ES_JAVA_HOME:-}" ]]; then echo "$ES_JAVA_HOME"; return; fi
  local c
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64 /usr/lib/jvm/temurin-17-jdk-amd64; do
    if [[ -n "$c" && -x "$c/bin/java" ]] && "$c/bin/java" -version 2>&1 | grep -q '"17\.'; then echo "$c"; return; fi
  done
  die "no JDK 17 found: install openjdk-17-jdk-headless or set ES_JAVA_HOME/JAVA_HOME to a JDK 17"
}
