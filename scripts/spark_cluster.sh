#!/usr/bin/env bash
# Start/stop a local Spark standalone cluster (one master, one worker) from pip's pyspark,
# to run jobs through `spark-submit --master spark://127.0.0.1:7077` as on a real cluster.
#
#   scripts/spark_cluster.sh start | stop | status | url
source "$(dirname "$0")/common.sh"

MASTER_PORT="${SKEWGUARD_SPARK_MASTER_PORT:-7077}"
UI_PORT="${SKEWGUARD_SPARK_UI_PORT:-8080}"
WORKER_CORES="${SKEWGUARD_SPARK_WORKER_CORES:-2}"
WORKER_MEMORY="${SKEWGUARD_SPARK_WORKER_MEMORY:-3g}"
DIR="$CACHE/spark-cluster"
URL="spark://127.0.0.1:$MASTER_PORT"

spark_home() {
  [[ -x "$VENV/bin/python" ]] || die "virtualenv missing: run scripts/setup_venv.sh (make venv) first"
  "$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'
}

alive() { [[ -f "$DIR/$1.pid" ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

alive_workers() {
  curl -s --max-time 3 "http://127.0.0.1:$UI_PORT/json/" 2>/dev/null | grep -o '"state" *: *"ALIVE"' | wc -l
}

start_daemon() {  # name class args...
  local name="$1"; shift
  SPARK_HOME="$SH" JAVA_HOME="$JH" SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$VENV/bin/python" \
    nohup "$SH/bin/spark-class" "$@" >"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

start() {
  mkdir -p "$DIR/work"
  SH="$(spark_home)"; JH="$(java17_home)"
  if ! alive master; then
    (exec 3<>"/dev/tcp/127.0.0.1/$MASTER_PORT") 2>/dev/null \
      && die "port $MASTER_PORT is already in use by another process (set SKEWGUARD_SPARK_MASTER_PORT)"
    log "starting Spark master on $URL (UI http://127.0.0.1:$UI_PORT)"
    start_daemon master org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$MASTER_PORT" \
      --webui-port "$UI_PORT"
  fi
  if ! alive worker; then
    log "starting Spark worker ($WORKER_CORES cores, $WORKER_MEMORY)"
    start_daemon worker org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores "$WORKER_CORES" \
      --memory "$WORKER_MEMORY" --work-dir "$DIR/work" --webui-port 0 "$URL"
  fi
  for _ in $(seq 1 60); do
    if [[ "$(alive_workers)" -ge 1 ]]; then log "Spark cluster ready at $URL"; return 0; fi
    alive master || die "Spark master exited: $(tail -n 5 "$DIR/master.log")"
    alive worker || die "Spark worker exited: $(tail -n 5 "$DIR/worker.log")"
    sleep 1
  done
  die "Spark cluster not ready after 60s (logs: $DIR/master.log, $DIR/worker.log)"
}

stop() {
  local name
  for name in worker master; do
    if alive "$name"; then log "stopping Spark $name"; kill "$(cat "$DIR/$name.pid")"; fi
    rm -f "$DIR/$name.pid"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if alive master; then echo "running: $URL, alive workers: $(alive_workers)"; else echo stopped; fi ;;
  url) echo "$URL" ;;
  *) die "usage: scripts/spark_cluster.sh start|stop|status|url" ;;
esac
