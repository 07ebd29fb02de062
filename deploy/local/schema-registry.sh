#!/usr/bin/env bash
# A Confluent-compatible schema registry for the registry mode of the schema'd formats: Apicurio
# Registry 2.0.2.Final (in-memory storage), its Confluent API at /apis/ccompat/v6. The app is on
# Maven Central only as a plain jar: it is assembled here by a Quarkus build (the pom and properties
# in schema-registry/) into the cache outside git, once; start runs the built jar.
# Usage: schema-registry.sh start|stop|kill|status|url
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

BUILD="$OUTBOX_RELAY_CACHE/apicurio-registry-$APICURIO_VERSION"
JAR="$BUILD/target/apicurio-runner-1-runner.jar"
REGISTRY_DIR="$OUTBOX_RELAY_RUN_DIR/schema-registry"
PIDFILE="$REGISTRY_DIR/registry.pid"
URL="http://127.0.0.1:$OUTBOX_SCHEMA_REGISTRY_PORT/apis/ccompat/v6"

ensure_java() {
  command -v java >/dev/null && command -v mvn >/dev/null && return 0
  apt_install openjdk-17-jre-headless maven
}

# mvn 3.8 prints terminal colour codes even in batch mode: its output is shown, stripped of them,
# only when it fails.
mvn_quiet() {
  if ! mvn -q -B -Dstyle.color=never --no-transfer-progress "$@" >"$BUILD/mvn.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$BUILD/mvn.log" >&2
    log "mvn failed building Apicurio Registry $APICURIO_VERSION (see above)"
    exit 1
  fi
}

build() {
  [ -f "$BUILD/.complete" ] && return 0
  ensure_java
  log "building Apicurio Registry $APICURIO_VERSION with mvn into $BUILD"
  rm -rf "$BUILD"
  mkdir -p "$BUILD/src/main/resources" "$BUILD/app"
  cp "$here/schema-registry/pom.xml" "$BUILD/pom.xml"
  # The app jar's own application.properties (profiles, storage, APIs) go below the index lines.
  mvn_quiet -f "$BUILD/pom.xml" dependency:unpack \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:jar" \
    -Dmdep.unpack.includes=application.properties -DoutputDirectory="$BUILD/app"
  cat "$here/schema-registry/index-dependencies.properties" "$BUILD/app/application.properties" \
    >"$BUILD/src/main/resources/application.properties"
  mvn_quiet -f "$BUILD/pom.xml" package -DskipTests
  [ -f "$JAR" ] || {
    log "the build made no $JAR"
    exit 1
  }
  touch "$BUILD/.complete"
}

pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE"; }
running() { pid_file_running "$PIDFILE" "HTTP_PORT=$OUTBOX_SCHEMA_REGISTRY_PORT"; }
# The process started just now (see pid_alive).
launched() { pid_alive "$PIDFILE"; }
not_running() { ! running; }
# Ready once the Confluent API answers (the HTTP port opens a moment before the storage is ready).
answering() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$OUTBOX_SCHEMA_REGISTRY_PORT" &&
      printf 'GET /apis/ccompat/v6/subjects HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
      head -n 1 <&3 | grep -q ' 200 '
  ) 2>/dev/null
}

case "${1:-}" in
  start)
    build
    mkdir -p "$REGISTRY_DIR"
    if ! running; then
      wait_port_free 30 "$OUTBOX_SCHEMA_REGISTRY_PORT"
      log "starting Apicurio Registry $APICURIO_VERSION on $URL"
      : >"$REGISTRY_DIR/registry.log"
      HTTP_PORT=$OUTBOX_SCHEMA_REGISTRY_PORT QUARKUS_HTTP_HOST=127.0.0.1 \
        nohup java -Xmx512m -jar "$JAR" >>"$REGISTRY_DIR/registry.log" 2>&1 </dev/null &
      echo $! >"$PIDFILE"
    fi
    wait_started 60 "Apicurio Registry on $URL" launched "$REGISTRY_DIR/registry.log" answering
    ;;
  stop | kill)
    if running; then
      log "stopping Apicurio Registry ($1)"
      if [ "$1" = kill ]; then kill -KILL "$(pid)"; else kill -TERM "$(pid)"; fi
      wait_for 30 "Apicurio Registry to exit" not_running || kill -KILL "$(pid)"
      wait_for 10 "Apicurio Registry to exit after SIGKILL" not_running
      wait_port_free 30 "$OUTBOX_SCHEMA_REGISTRY_PORT"
    fi
    rm -f "$PIDFILE"
    ;;
  status) running ;;
  url) echo "$URL" ;;
  *)
    echo "usage: $0 start|stop|kill|status|url" >&2
    exit 2
    ;;
esac
