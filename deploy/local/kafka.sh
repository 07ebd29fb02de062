#!/usr/bin/env bash
# A single-node Apache Kafka broker in KRaft mode (broker and controller in one process),
# from the official jars resolved from Maven Central with mvn and cached outside git.
# Usage: kafka.sh start|stop|kill|status|console-consumer [options]
# OUTBOX_KAFKA_PROPERTIES: broker settings (space-separated key=value) appended to server.properties,
# where they override the ones above them; e.g. a second broker of a test, in a run dir and on ports
# of its own: OUTBOX_KAFKA_PROPERTIES='transaction.state.log.replication.factor=3'.
# `console-consumer` runs Kafka's own console consumer (what the distribution's
# kafka-console-consumer.sh runs) from the same jars, e.g.
#   kafka.sh console-consumer --bootstrap-server 127.0.0.1:19092 --topic outbox.order --from-beginning
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

LIB="$OUTBOX_RELAY_CACHE/kafka-$KAFKA_VERSION/libs"
KAFKA_DIR="$OUTBOX_RELAY_RUN_DIR/kafka"
PIDFILE="$KAFKA_DIR/kafka.pid"
# Any fixed 22-character base64 id: the cluster only needs one, and a stable one survives restarts.
CLUSTER_ID="b3V0Ym94LXJlbGF5LWxvYw"

ensure_java() {
  command -v java >/dev/null && command -v mvn >/dev/null && return 0
  apt_install openjdk-17-jre-headless maven
}

fetch_jars() {
  [ -f "$LIB/.complete" ] && return 0
  ensure_java
  log "resolving Kafka $KAFKA_VERSION with mvn into $LIB"
  local work
  work=$(mktemp -d)
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.outbox-relay</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- Kafka still logs through slf4j 1.7: this binding makes its log visible. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  mkdir -p "$LIB"
  # mvn 3.8 prints terminal colour codes even in batch mode: its output is shown, stripped of
  # them, only when it fails.
  if ! mvn -q -B -Dstyle.color=never --no-transfer-progress -f "$work/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIB" -DincludeScope=runtime >"$work/mvn.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$work/mvn.log" >&2
    log "mvn could not resolve Kafka $KAFKA_VERSION (see above)"
    exit 1
  fi
  rm -rf "$work"
  touch "$LIB/.complete"
}

write_config() {
  mkdir -p "$KAFKA_DIR/data"
  cat >"$KAFKA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$OUTBOX_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$OUTBOX_KAFKA_PORT,CONTROLLER://127.0.0.1:$OUTBOX_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$OUTBOX_KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  # The last occurrence of a key wins when Kafka reads the file.
  local setting
  for setting in ${OUTBOX_KAFKA_PROPERTIES:-}; do echo "$setting" >>"$KAFKA_DIR/server.properties"; done
  cat >"$KAFKA_DIR/log4j2.properties" <<LOG
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka.server.KafkaRaftServer
logger.kafka.level=INFO
LOG
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    java -cp "$LIB/*" -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
      kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$KAFKA_DIR/server.properties" >/dev/null
  fi
}

pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE"; }
running() { pid_file_running "$PIDFILE" "$KAFKA_DIR/server.properties"; }
# The process started just now (see pid_alive).
launched() { pid_alive "$PIDFILE"; }
listening() { port_open 127.0.0.1 "$OUTBOX_KAFKA_PORT"; }
not_running() { ! running; }

case "${1:-}" in
  start)
    fetch_jars
    write_config
    if ! running; then
      wait_port_free 30 "$OUTBOX_KAFKA_PORT" "$OUTBOX_KAFKA_CONTROLLER_PORT"
      log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$OUTBOX_KAFKA_PORT"
      : >"$KAFKA_DIR/server.log"
      nohup java -Xmx768m -Xms256m -XX:+UseG1GC -cp "$LIB/*" \
        -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
        kafka.Kafka "$KAFKA_DIR/server.properties" >>"$KAFKA_DIR/server.log" 2>&1 </dev/null &
      echo $! >"$PIDFILE"
    fi
    wait_started 90 "Kafka on 127.0.0.1:$OUTBOX_KAFKA_PORT" launched "$KAFKA_DIR/server.log" listening
    ;;
  stop | kill)
    if running; then
      log "stopping Kafka ($1)"
      if [ "$1" = kill ]; then kill -KILL "$(pid)"; else kill -TERM "$(pid)"; fi
      wait_for 60 "Kafka to exit" not_running || kill -KILL "$(pid)"
      wait_for 10 "Kafka to exit after SIGKILL" not_running
      # The next start must find its ports free: a restart never races the old process's sockets.
      wait_port_free 30 "$OUTBOX_KAFKA_PORT" "$OUTBOX_KAFKA_CONTROLLER_PORT"
    fi
    rm -f "$PIDFILE"
    ;;
  status) running ;;
  console-consumer)
    shift
    fetch_jars
    exec java -Xmx256m -cp "$LIB/*" -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
      org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
    ;;
  *)
    echo "usage: $0 start|stop|kill|status|console-consumer [options]" >&2
    exit 2
    ;;
esac
