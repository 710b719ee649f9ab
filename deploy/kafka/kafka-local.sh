#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft broker+controller) from Maven Central jars.
#
#   kafka-local.sh start    fetch jars once, format storage once, start, wait until it answers
#   kafka-local.sh stop     stop it and wait until the process is gone
#   kafka-local.sh status   exit 0 when running
#   kafka-local.sh jars     only fetch the jars
#
# Environment: KAFKA_HOME_DIR (default <repo>/.data/kafka), KAFKA_PORT (9092),
# KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (1536m), KAFKA_START_TIMEOUT (60 s).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
home=${KAFKA_HOME_DIR:-$repo/.data/kafka}
port=${KAFKA_PORT:-9092}
ctrl_port=${KAFKA_CONTROLLER_PORT:-9093}
heap=${KAFKA_HEAP:-1536m}
timeout=${KAFKA_START_TIMEOUT:-60}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
jars=${KAFKA_JARS_DIR:-$repo/.data/kafka-jars/$version}
pidfile=$home/kafka.pid

log() { echo "kafka-local: $*" >&2; }

fetch_jars() {
  if [[ -f $jars/.complete ]]; then return; fi
  log "fetching Apache Kafka $version jars from Maven Central into $jars"
  mkdir -p "$jars"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$jars" >&2
  touch "$jars/.complete"
}

running() {
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers() {
  # A TCP connect is not enough: KRaft opens the port before the broker is unfenced,
  # so once the port is open ask the broker for its API versions like a client would.
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 1
  java -cp "$jars/*" -Dlog4j2.configurationFile="$here/log4j2.yaml" -Dkafka.logs.dir="$home/logs" \
    org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "127.0.0.1:$port" >/dev/null 2>&1
}

write_config() {
  mkdir -p "$home/data" "$home/logs"
  cat > "$home/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:$ctrl_port
log.dirs=$home/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=67108864
PROPS
}

start() {
  if running; then log "already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; return 0; fi
  command -v java >/dev/null || { log "java not found (needs Java 17+)"; exit 1; }
  fetch_jars
  write_config
  if [[ ! -f $home/data/meta.properties ]]; then
    log "formatting storage in $home/data"
    java -cp "$jars/*" -Dlog4j2.configurationFile="$here/log4j2.yaml" -Dkafka.logs.dir="$home/logs" \
      kafka.tools.StorageTool format --standalone -t "$(cat "$home/cluster.id" 2>/dev/null || \
      java -cp "$jars/*" kafka.tools.StorageTool random-uuid | tee "$home/cluster.id")" \
      -c "$home/server.properties" >"$home/logs/format.log" 2>&1
  fi
  log "starting Kafka $version on 127.0.0.1:$port"
  setsid java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.yaml" -Dkafka.logs.dir="$home/logs" \
    -cp "$jars/*" kafka.Kafka "$home/server.properties" >"$home/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + timeout))
  until answers; do
    if ! running; then log "broker exited; see $home/logs/stdout.log and server.log"; tail -20 "$home/logs/stdout.log" >&2; exit 1; fi
    if (( SECONDS > deadline )); then log "broker did not answer within ${timeout}s"; exit 1; fi
    sleep 0.5
  done
  log "ready: bootstrap servers 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

stop() {
  if ! running; then rm -f "$pidfile"; log "not running"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "no clean stop after 30 s, killing"; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  log "stopped"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running pid $(cat "$pidfile") port $port"; else echo "stopped"; exit 1; fi ;;
  jars) fetch_jars; echo "$jars" ;;
  *) echo "usage: $0 start|stop|status|jars" >&2; exit 2 ;;
esac
