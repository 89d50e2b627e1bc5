#!/usr/bin/env bash
# Fetch, start, stop and query the local Elasticsearch server (integ-test-zip distribution).
#
#   scripts/es.sh start [local|secure]   start (or reuse) a single node and wait for health
#   scripts/es.sh stop  [local|secure]   stop it
#   scripts/es.sh kill  [aux]            kill -9 the node, as a crash would (fault tests)
#   scripts/es.sh status [local|secure]  print health or "stopped"
#   scripts/es.sh env [local|secure|aux] print `export` lines for a client of the profile:
#                                        eval "$(scripts/es.sh env secure)"
#
# Profiles: `local` — http://127.0.0.1:9200, security off (the default).
#           `secure` — https://127.0.0.1:9201, TLS with a CA made offline, file-realm users
#                      of three least-privilege roles (writer, reader, admin: see write_roles).
#           `aux` — http://127.0.0.1:9202, security off: a node tests may stop and restart.
# Everything (distribution, config, data, logs) lives under .cache/es. Elasticsearch refuses
# to run as root, so as root the node runs as the unprivileged user `skewguard-es`.
source "$(dirname "$0")/common.sh"

ES_USER="${SKEWGUARD_ES_USER:-skewguard-es}"
ES_HEAP="${SKEWGUARD_ES_HEAP:-1g}"

cmd="${1:-}"; profile="${2:-local}"

create_user() {
  [[ "$(id -u)" -ne 0 ]] && return 0
  id "$ES_USER" >/dev/null 2>&1 && return 0
  log "creating unprivileged user $ES_USER to run Elasticsearch"
  useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER" \
    || die "could not create user $ES_USER (Elasticsearch refuses to run as root)"
}

reachable_by_es_user() {  # the nearest existing folder of $1 can be entered by the ES user
  local d="$1"
  while [[ ! -e "$d" ]]; do d="$(dirname "$d")"; done
  runuser -u "$ES_USER" -- test -x "$d" 2>/dev/null
}

[[ "$cmd" == start ]] && create_user
ES_BASE="$CACHE/es"
# As root the node runs as $ES_USER, which must reach its files. A checkout inside a private
# home (e.g. /root) is out of its reach, so the node's files then live under /var/tmp.
if [[ "$(id -u)" -eq 0 ]] && id "$ES_USER" >/dev/null 2>&1 && ! reachable_by_es_user "$ES_BASE"; then
  ES_BASE="/var/tmp/skewguard-es-$(printf %s "$ROOT" | sha1sum | cut -c1-12)"
fi
ES_HOME="$ES_BASE/elasticsearch-$ES_SERVER_VERSION"
case "$profile" in
  local)  HTTP_PORT="${SKEWGUARD_ES_PORT:-9200}"; TRANSPORT_PORT=9300; SCHEME=http ;;
  secure) HTTP_PORT="${SKEWGUARD_ES_SECURE_PORT:-9201}"; TRANSPORT_PORT=9301; SCHEME=https ;;
  aux)    HTTP_PORT="${SKEWGUARD_ES_AUX_PORT:-9202}"; TRANSPORT_PORT=9302; SCHEME=http ;;
  *) die "unknown profile '$profile' (use local, secure or aux)" ;;
esac
PDIR="$ES_BASE/$profile"
PIDFILE="$PDIR/es.pid"
URL="$SCHEME://127.0.0.1:$HTTP_PORT"
CA="$PDIR/config/certs/ca/ca.crt"
CREDS="$PDIR/credentials.env"
# The log indices the roles cover (comma-separated name patterns): the default index, its
# daily indices and alias, and skewguard-* (the tests' indices).
LOG_INDICES="${SKEWGUARD_ES_LOG_INDICES:-flywheel*,skewguard-*}"
ROLES=(writer reader admin)

fetch_distribution() {
  [[ -x "$ES_HOME/bin/elasticsearch" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found: needed to download Elasticsearch $ES_SERVER_VERSION"
  local dl="$CACHE/downloads"; mkdir -p "$dl" "$ES_BASE"
  local zip="$dl/elasticsearch-$ES_SERVER_VERSION.zip"
  if [[ ! -s "$zip" ]]; then
    log "downloading Elasticsearch $ES_SERVER_VERSION (integ-test-zip)"
    mvn -q -B dependency:copy \
      -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_SERVER_VERSION:zip" \
      -Dtransitive=false -DoutputDirectory="$dl" >"$dl/mvn-es.log" 2>&1 \
      || die "could not download Elasticsearch with Maven (see $dl/mvn-es.log)"
  fi
  log "unpacking $zip"
  rm -rf "$ES_HOME.tmp"; mkdir -p "$ES_HOME.tmp"
  unzip -q "$zip" -d "$ES_HOME.tmp" || die "corrupt download $zip: delete it and run again"
  mv "$ES_HOME.tmp/elasticsearch-$ES_SERVER_VERSION" "$ES_HOME"; rmdir "$ES_HOME.tmp"
  chmod -R a+rX "$ES_HOME"
}

ensure_user() {
  [[ "$(id -u)" -ne 0 ]] && return 0
  create_user
  mkdir -p "$PDIR"
  runuser -u "$ES_USER" -- test -x "$PDIR" 2>/dev/null \
    || die "user $ES_USER cannot enter $PDIR: make its parents world-executable (chmod o+x)"
}

as_es() {
  if [[ "$(id -u)" -eq 0 ]]; then runuser -u "$ES_USER" -- "$@"; else "$@"; fi
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE" 2>/dev/null)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

curl_es() {
  local args=(-s --max-time 5)
  if [[ "$profile" == secure ]]; then
    # shellcheck disable=SC1090
    source "$CREDS"
    args+=(--cacert "$CA" -u "$ES_ADMIN_USERNAME:$ES_ADMIN_PASSWORD")
  fi
  curl "${args[@]}" "$@"
}

write_config() {
  local conf="$PDIR/config"
  mkdir -p "$conf" "$PDIR/data" "$PDIR/logs" "$PDIR/tmp"
  # Start from the distribution's own files (jvm.options, log4j2, ...), then ours on top.
  cp -n "$ES_HOME/config/"* "$conf/" 2>/dev/null || true
  cat >"$conf/elasticsearch.yml" <<YML
cluster.name: skewguard-$profile
node.name: skewguard-$profile
discovery.type: single-node
network.host: 127.0.0.1
http.host: 127.0.0.1
http.port: $HTTP_PORT
transport.port: $TRANSPORT_PORT
path.data: $PDIR/data
path.logs: $PDIR/logs
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
YML
  if [[ "$profile" != secure ]]; then
    echo "xpack.security.enabled: false" >>"$conf/elasticsearch.yml"
  else
    setup_security "$conf"
    cat >>"$conf/elasticsearch.yml" <<YML
xpack.security.enabled: true
xpack.security.authc.realms.file.file1.order: 0
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.key: certs/node/node.key
xpack.security.http.ssl.certificate: certs/node/node.crt
xpack.security.http.ssl.certificate_authorities: certs/ca/ca.crt
xpack.security.transport.ssl.enabled: false
YML
  fi
  # jvm.options points GC logs, heap dumps and error files at paths relative to ES_HOME,
  # which the unprivileged user may not write: point them into this profile's folders.
  sed -e "s|file=logs/gc.log|file=$PDIR/logs/gc.log|" -e "s|HeapDumpPath=data|HeapDumpPath=$PDIR/data|" \
      -e "s|ErrorFile=logs/|ErrorFile=$PDIR/logs/|" "$ES_HOME/config/jvm.options" >"$conf/jvm.options"
  mkdir -p "$conf/jvm.options.d"
  printf -- '-Xms%s\n-Xmx%s\n' "$ES_HEAP" "$ES_HEAP" >"$conf/jvm.options.d/heap.options"
  if [[ "$(id -u)" -eq 0 ]]; then chown -R "$ES_USER" "$PDIR"; fi
}

setup_security() {
  local conf="$1" role pw user pass
  export ES_JAVA_HOME ES_PATH_CONF="$conf"
  if [[ ! -s "$CA" ]]; then
    log "making a CA and a node certificate (offline, elasticsearch-certutil)"
    rm -rf "$conf/certs"; mkdir -p "$conf/certs"
    "$ES_HOME/bin/elasticsearch-certutil" ca --pem --silent --days 3650 --out "$conf/certs/ca.zip" >/dev/null \
      || die "elasticsearch-certutil ca failed"
    unzip -q "$conf/certs/ca.zip" -d "$conf/certs"
    "$ES_HOME/bin/elasticsearch-certutil" cert --pem --silent --days 3650 \
      --ca-cert "$conf/certs/ca/ca.crt" --ca-key "$conf/certs/ca/ca.key" \
      --name node --dns localhost --ip 127.0.0.1 --out "$conf/certs/node.zip" >/dev/null \
      || die "elasticsearch-certutil cert failed"
    unzip -q "$conf/certs/node.zip" -d "$conf/certs"
    rm -f "$conf/certs/"*.zip
  fi
  # One user per role, each with its own random password (a file made by an older version,
  # with a single superuser, is replaced).
  if [[ ! -s "$CREDS" ]] || ! grep -q '^ES_ADMIN_PASSWORD=' "$CREDS"; then
    (
      umask 077
      printf 'ES_CA_CERTS=%s\n' "$CA" >"$CREDS"
      for role in "${ROLES[@]}"; do
        pw="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)"
        printf 'ES_%s_USERNAME=skewguard-%s\nES_%s_PASSWORD=%s\n' "${role^^}" "$role" "${role^^}" "$pw" >>"$CREDS"
      done
    )
    : >"$conf/users"; : >"$conf/users_roles"
  fi
  write_roles "$conf/roles.yml"
  # shellcheck disable=SC1090
  source "$CREDS"
  for role in "${ROLES[@]}"; do
    user="ES_${role^^}_USERNAME"; pass="ES_${role^^}_PASSWORD"
    grep -q "^${!user}:" "$conf/users" 2>/dev/null && continue
    log "adding file-realm user ${!user} with role skewguard_log_$role (elasticsearch-users)"
    "$ES_HOME/bin/elasticsearch-users" useradd "${!user}" -p "${!pass}" -r "skewguard_log_$role" >/dev/null \
      || die "elasticsearch-users useradd ${!user} failed"
  done
}

write_roles() {  # file-realm roles (no security index): least privilege on the log indices
  local names
  # shellcheck disable=SC2086  # split the comma-separated patterns into words
  names="$(printf '"%s", ' ${LOG_INDICES//,/ })"; names="[${names%, }]"
  cat >"$1" <<YML
# Written by scripts/es.sh at each start (indices: SKEWGUARD_ES_LOG_INDICES).
# writer: the serving logger and \`skewguard load\`. Creates documents (op_type create) and
# nothing else: it cannot read, search, overwrite or delete one. auto_configure lets a write
# create a missing index (e.g. the day's index) from the index template; monitor is for the
# client's health check.
skewguard_log_writer:
  cluster: [monitor]
  indices:
    - names: $names
      privileges: [create_doc, auto_configure]
# reader: the Spark jobs (ES-Hadoop) and reconcile. Search, scroll, count, get; the index
# metadata ES-Hadoop plans its read from (mapping, search shards, aliases); no write, no delete.
skewguard_log_reader:
  cluster: [monitor]
  indices:
    - names: $names
      privileges: [read, view_index_metadata]
# admin: \`skewguard create-index\` (index, mapping, template), refresh, retention (delete
# index). Manages the indices but reads or writes no document.
skewguard_log_admin:
  cluster: [monitor, manage_index_templates]
  indices:
    - names: $names
      privileges: [manage]
YML
}

wait_health() {
  local deadline=$((SECONDS + ${SKEWGUARD_ES_START_TIMEOUT:-120})) status
  while (( SECONDS < deadline )); do
    status="$(curl_es "$URL/_cluster/health" 2>/dev/null | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')"
    if [[ "$status" == green || "$status" == yellow ]]; then
      log "Elasticsearch ($profile) is $status at $URL"
      return 0
    fi
    if ! running_pid >/dev/null; then
      die "Elasticsearch ($profile) exited during start-up; last log lines:
$(tail -n 20 "$PDIR/logs/skewguard-$profile.log" 2>/dev/null || tail -n 20 "$PDIR/logs/console.log" 2>/dev/null)"
    fi
    sleep 1
  done
  die "Elasticsearch ($profile) not healthy after ${SKEWGUARD_ES_START_TIMEOUT:-120}s (logs: $PDIR/logs)"
}

start() {
  if pid="$(running_pid)"; then
    log "Elasticsearch ($profile) already running (pid $pid)"
    wait_health; return 0
  fi
  if port_in_use "$HTTP_PORT"; then
    die "port $HTTP_PORT is already in use by another process: stop it, or set SKEWGUARD_ES_PORT (local) / SKEWGUARD_ES_SECURE_PORT (secure)"
  fi
  if port_in_use "$TRANSPORT_PORT"; then
    die "transport port $TRANSPORT_PORT is already in use by another process"
  fi
  ES_JAVA_HOME="$(java17_home)"
  fetch_distribution
  ensure_user
  write_config
  log "starting Elasticsearch $ES_SERVER_VERSION ($profile profile, heap $ES_HEAP) on $URL"
  rm -f "$PIDFILE"
  # The JVM's GC log path (logs/gc.log) is relative to the working directory.
  cd "$PDIR"
  as_es setsid env ES_JAVA_HOME="$ES_JAVA_HOME" ES_PATH_CONF="$PDIR/config" ES_TMPDIR="$PDIR/tmp" \
    "$ES_HOME/bin/elasticsearch" -d -p "$PIDFILE" >"$PDIR/logs/console.log" 2>&1 \
    || die "Elasticsearch failed to start: $(tail -n 5 "$PDIR/logs/console.log")"
  wait_health
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then log "Elasticsearch ($profile) is not running"; return 0; fi
  log "stopping Elasticsearch ($profile, pid $pid)"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$PIDFILE"
}

crash() {
  local pid
  if ! pid="$(running_pid)"; then log "Elasticsearch ($profile) is not running"; return 0; fi
  log "killing Elasticsearch ($profile, pid $pid) with SIGKILL"
  kill -9 "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }; sleep 0.25; done
  die "Elasticsearch ($profile, pid $pid) survived SIGKILL"
}

print_env() {  # `export` lines, so eval "$(scripts/es.sh env P)" reaches the next commands
  local vars=(ES_CA_CERTS) role var
  for role in "${ROLES[@]}"; do vars+=("ES_${role^^}_USERNAME" "ES_${role^^}_PASSWORD"); done
  printf 'export ELASTICSEARCH_URL=%q\n' "$URL"
  if [[ "$profile" != secure ]]; then
    # leaving the secure profile: drop its settings rather than send them to an open node
    echo "unset ${vars[*]} SKEWGUARD_ES_ROLES_REQUIRED"
    return 0
  fi
  [[ -s "$CREDS" ]] || die "no credentials yet: run scripts/es.sh start secure first"
  # shellcheck disable=SC1090
  source "$CREDS"
  for var in "${vars[@]}"; do printf 'export %s=%q\n' "$var" "${!var}"; done
  # each component must then use its role's user: none falls back to a shared one
  echo "export SKEWGUARD_ES_ROLES_REQUIRED=true"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status)
    if running_pid >/dev/null; then curl_es "$URL/_cluster/health"; echo; else echo stopped; fi ;;
  env) print_env ;;
  fetch) ES_JAVA_HOME="$(java17_home)"; fetch_distribution ;;
  *) die "usage: scripts/es.sh start|stop|kill|status|env|fetch [local|secure|aux]" ;;
esac
