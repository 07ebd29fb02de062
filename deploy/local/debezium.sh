#!/usr/bin/env bash
# Kafka Connect standalone with the Debezium PostgreSQL connector (and its Outbox Event Router), from
# the official jars resolved from Maven Central with mvn and cached outside git, the way kafka.sh gets
# Kafka. It runs one connector at a time against the local Kafka (kafka.sh); the connector's own
# properties (database, slot, publication, the router's options) are the caller's: the Debezium
# compatibility test writes them (test/compat/debezium.test.ts), and so can a benchmark.
# Usage: debezium.sh fetch | start CONNECTOR.properties... | stop | kill | status
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

LIB="$OUTBOX_RELAY_CACHE/debezium-$DEBEZIUM_VERSION-connect-$KAFKA_VERSION/libs"
CONNECT_DIR="$OUTBOX_RELAY_RUN_DIR/debezium"
PIDFILE="$CONNECT_DIR/connect.pid"

ensure_java() {
  command -v java >/dev/null && command -v mvn >/dev/null && return 0
  apt_install openjdk-17-jre-headless maven
}

fetch_jars() {
  [ -f "$LIB/.complete" ] && return 0
  ensure_java
  log "resolving Kafka Connect $KAFKA_VERSION and Debezium $DEBEZIUM_VERSION with mvn into $LIB"
  local work
  work=$(mktemp -d)
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.outbox-relay</groupId>
  <artifactId>debezium-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-json</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>io.debezium</groupId><artifactId>debezium-connector-postgres</artifactId><version>$DEBEZIUM_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  mkdir -p "$LIB"
  if ! mvn -q -B -Dstyle.color=never --no-transfer-progress -f "$work/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIB" -DincludeScope=runtime >"$work/mvn.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$work/mvn.log" >&2
    log "mvn could not resolve Debezium $DEBEZIUM_VERSION (see above)"
    exit 1
  fi
  rm -rf "$work"
  touch "$LIB/.complete"
}

# The worker: the local Kafka, the JSON converter with schemas (Debezium's documented default
# setup), offsets in a file that a restart reads again, flushed every second so that the slot's
# confirmed position follows closely.
write_config() {
  mkdir -p "$CONNECT_DIR"
  cat >"$CONNECT_DIR/worker.properties" <<PROPS
bootstrap.servers=127.0.0.1:$OUTBOX_KAFKA_PORT
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
offset.storage.file.filename=$CONNECT_DIR/offsets.dat
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$OUTBOX_CONNECT_PORT
plugin.discovery=only_scan
PROPS
  cat >"$CONNECT_DIR/log4j2.properties" <<LOG
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.debezium.name=io.debezium
logger.debezium.level=INFO
LOG
}

pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE"; }
running() { pid_file_running "$PIDFILE" "$CONNECT_DIR/worker.properties"; }
# The process started just now (see pid_alive).
launched() { pid_alive "$PIDFILE"; }
listening() { port_open 127.0.0.1 "$OUTBOX_CONNECT_PORT"; }
not_running() { ! running; }

case "${1:-}" in
  fetch) fetch_jars ;;
  start)
    shift
    [ $# -gt 0 ] || {
      echo "usage: $0 start CONNECTOR.properties..." >&2
      exit 2
    }
    for connector in "$@"; do
      [ -f "$connector" ] || {
        log "no such connector file: $connector"
        exit 2
      }
    done
    fetch_jars
    write_config
    if running; then
      log "Kafka Connect already runs (pid $(pid)): stop it first"
      exit 1
    fi
    wait_port_free 30 "$OUTBOX_CONNECT_PORT"
    log "starting Kafka Connect with Debezium $DEBEZIUM_VERSION on 127.0.0.1:$OUTBOX_CONNECT_PORT ($*)"
    : >"$CONNECT_DIR/connect.log"
    nohup java -Xmx1g -Xms256m -XX:+UseG1GC -cp "$LIB/*" \
      -Dlog4j2.configurationFile="$CONNECT_DIR/log4j2.properties" \
      org.apache.kafka.connect.cli.ConnectStandalone "$CONNECT_DIR/worker.properties" "$@" \
      >>"$CONNECT_DIR/connect.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    # The REST port opens once the connector was handed to the worker; whether its task runs is
    # GET /connectors/NAME/status (the test polls it).
    wait_started 120 "Kafka Connect on 127.0.0.1:$OUTBOX_CONNECT_PORT" launched "$CONNECT_DIR/connect.log" listening
    ;;
  stop | kill)
    if running; then
      log "stopping Kafka Connect ($1)"
      if [ "$1" = kill ]; then kill -KILL "$(pid)"; else kill -TERM "$(pid)"; fi
      wait_for 60 "Kafka Connect to exit" not_running || kill -KILL "$(pid)"
      wait_for 10 "Kafka Connect to exit after SIGKILL" not_running
      wait_port_free 30 "$OUTBOX_CONNECT_PORT"
    fi
    rm -f "$PIDFILE"
    ;;
  status) running ;;
  *)
    echo "usage: $0 fetch | start CONNECTOR.properties... | stop | kill | status" >&2
    exit 2
    ;;
esac
