#!/usr/bin/env bash
# Download the Spark jars skewguard needs (Delta Lake, ES-Hadoop) into .cache/jars with Maven.
# The ES-Hadoop jar is self-contained but its POM names Spark, Scala and two unpublished
# artifacts as dependencies, so it is copied alone (no transitive resolution).
# Writes .cache/jars/jars.txt: one absolute jar path a line, read by every Spark session
# that Python starts and by `skewguard submit-args`. Idempotent.
source "$(dirname "$0")/common.sh"

ARTIFACTS=(
  "io.delta:delta-spark_${SCALA_BINARY}:${DELTA_VERSION}"
  "io.delta:delta-storage:${DELTA_VERSION}"
  "org.elasticsearch:elasticsearch-spark-30_${SCALA_BINARY}:${ES_HADOOP_VERSION}"
)

mkdir -p "$JARS_DIR"
manifest="$JARS_DIR/jars.txt"
tmp_manifest="$(mktemp)"
for coord in "${ARTIFACTS[@]}"; do
  IFS=: read -r group artifact version <<<"$coord"
  jar="$JARS_DIR/${artifact}-${version}.jar"
  if [[ ! -s "$jar" ]]; then
    command -v mvn >/dev/null || die "mvn not found: install Maven to download $coord"
    log "downloading $coord"
    mvn -q -B dependency:copy -Dartifact="$coord:jar" -Dtransitive=false \
        -DoutputDirectory="$JARS_DIR" -Dmdep.overWriteIfNewer=true >"$JARS_DIR/mvn.log" 2>&1 \
      || die "could not download $coord with Maven (see $JARS_DIR/mvn.log)"
    [[ -s "$jar" ]] || die "Maven finished but $jar is missing (see $JARS_DIR/mvn.log)"
  fi
  unzip -tq "$jar" >/dev/null 2>&1 || { rm -f "$jar"; die "$jar is corrupt; removed it, run again"; }
  echo "$jar" >>"$tmp_manifest"
done
mv "$tmp_manifest" "$manifest"
log "jars ready: $manifest"
