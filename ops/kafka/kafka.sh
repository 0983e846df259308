#!/usr/bin/env bash
# A real Apache Kafka on 127.0.0.1 for gongji's tests and benchmarks: KRaft mode (no ZooKeeper), from the
# Apache Kafka jars on Maven Central (version pinned in ops/kafka/pom.xml, cached under ~/.cache/gongji).
#
#   ops/kafka/kafka.sh fetch                      copy the jars into the cache (idempotent)
#   ops/kafka/kafka.sh start DIR [BROKERS]        format and start 1 (default) or 3 brokers; waits until served
#                                                 (metadata, the transaction coordinator and the group coordinator
#                                                 answer a real transactional produce and a group commit);
#                                                 prints the bootstrap list. Ports: 1 broker 39092 (controller
#                                                 39093); 3 brokers 39192/39193/39194 (controllers 39292-39294).
#                                                 GONGJI_KAFKA_PORT=N moves node 1's port to N (the others follow:
#                                                 N+1, N+2; controllers N+1, or N+100...), so that several brokers
#                                                 can run on one machine; DIR remembers it for restart.
#   ops/kafka/kafka.sh stop DIR                   stop every broker started under DIR (SIGTERM, then SIGKILL)
#   ops/kafka/kafka.sh kill DIR NODE / restart DIR NODE    SIGKILL / restart one node (fault tests)
#   ops/kafka/kafka.sh topics BOOTSTRAP [PARTITIONS] [REPLICAS]   create gongji's topics (idempotent)
#   ops/kafka/kafka.sh sasl DIR                   a single broker's listener that requires SASL (SCRAM-SHA-256 or
#                                                 PLAIN; node 1's port + 2, 39094): prints "HOST:PORT USER PASSWORD"
#   ops/kafka/kafka.sh tool CLASS ARGS...         run a Kafka tool class with the broker's classpath
#
# Why Kafka 4.3.1: the newest release whose broker *and* tools jars (kafka-tools, for kafka-consumer-perf-test)
# Maven Central serves here; Debian's librdkafka 2.0.2 negotiates API versions with it (KIP-896 removed only
# versions older than librdkafka 1.x uses) — KafkaSmoke in tests/consumers/kafka_test.cc proves produce, transactions and consumer
# groups against it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache="${GONGJI_CACHE:-${HOME:-/root}/.cache/gongji}/kafka-$version"
libs="$cache/libs"

fetch() {
  if [ -f "$libs/.complete" ]; then return; fi
  command -v mvn >/dev/null || { echo "kafka.sh: Maven (mvn) is needed to fetch the Kafka jars" >&2; exit 1; }
  command -v java >/dev/null || { echo "kafka.sh: Java 17 is needed to run the broker" >&2; exit 1; }
  mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs" >&2
  touch "$libs/.complete"
}

java_run() { java -Dslf4j.provider=org.apache.logging.slf4j.SLF4JServiceProvider -Xms128m -Xmx${KAFKA_HEAP:-512m} -XX:+UseG1GC -Dlog4j2.configurationFile="$here/log4j2.properties" \
  -cp "$libs/*" "$@"; }

first_port() {  # COUNT [DIR]: node 1's broker port (GONGJI_KAFKA_PORT, else what DIR recorded, else the default)
  if [ -n "${2:-}" ] && [ -f "$2/port" ]; then cat "$2/port"; return; fi
  if [ -n "${GONGJI_KAFKA_PORT:-}" ]; then echo "$GONGJI_KAFKA_PORT"; return; fi
  if [ "$1" = 1 ]; then echo 39092; else echo 39192; fi
}

node_props() {  # DIR NODE COUNT
  local dir=$1 node=$2 count=$3 base port cport voters="" i
  base=$(first_port "$count" "$dir")
  if [ "$count" != 1 ]; then base=$((base - 1)); fi
  port=$((base + (count == 1 ? 0 : node))); cport=$((port + (count == 1 ? 1 : 100)))
  for i in $(seq 1 "$count"); do
    local vp=$(( count == 1 ? base + 1 : base + i + 100 ))
    voters="${voters:+$voters,}$i@127.0.0.1:$vp"
  done
  local rf=$(( count >= 3 ? 3 : 1 )) isr=$(( count >= 3 ? 2 : 1 ))
  # A single node also has a listener that requires SASL, SCRAM-SHA-256 or PLAIN (port + 2; one user, sasl_user
  # below, created when the node is formatted), for the test that runs ingest and serve with credentials (issue 11).
  # Debian's librdkafka 2.0.2 cannot do SCRAM with Kafka 4.x (its client-final nonce, fixed in librdkafka 2.6.1:
  # confluentinc/librdkafka#4895); Kafka's Java client can, so the test uses PLAIN and SCRAM stays for newer clients.
  local listeners="PLAINTEXT://127.0.0.1:$port" advertised="PLAINTEXT://127.0.0.1:$port"
  if [ "$count" = 1 ]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$((port + 2))"
    advertised="$advertised,SASL_PLAINTEXT://127.0.0.1:$((port + 2))"
  fi
  cat <<PROPS
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,PLAIN
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password";
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/node$node/data
num.partitions=8
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=-1
unclean.leader.election.enable=false
PROPS
}

# The user of a single node's SASL listener: a test credential of a loopback broker, nothing else.
sasl_user=gongji
sasl_password=gongji-test-only

sasl() {  # DIR: "HOST:PORT USER PASSWORD" of a single node's SASL/SCRAM listener
  echo "127.0.0.1:$(( $(first_port 1 "$1") + 2 )) $sasl_user $sasl_password"
}

bootstrap_of() {  # COUNT [DIR]
  local p i out=""
  p=$(first_port "$1" "${2:-}")
  for i in $(seq 0 $(($1 - 1))); do out="${out:+$out,}127.0.0.1:$((p + i))"; done
  echo "$out"
}

# Ready means what gongji uses answers, not only the metadata quorum: right after a fresh start the broker answers
# "Coordinator load in progress" / COORDINATOR_NOT_AVAILABLE until __transaction_state and __consumer_offsets are
# created and loaded, and a client that starts then fails (issue 8 item 10). So: commit one real transaction and
# commit one consumer-group offset (librdkafka, as gongji does, through Python's confluent_kafka), retried until
# both succeed, within a bound.
wait_coordinators() {  # BOOTSTRAP SECONDS
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, time, uuid
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
brokers, deadline = sys.argv[1], time.time() + float(sys.argv[2])
topic, last = "gongji.ready", None
while time.time() < deadline:
    try:
        admin = AdminClient({"bootstrap.servers": brokers})
        if topic not in admin.list_topics(timeout=10).topics:
            for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
                try:
                    f.result(30)
                except KafkaException as e:
                    if "TOPIC_ALREADY_EXISTS" not in str(e):
                        raise
        p = Producer({"bootstrap.servers": brokers, "transactional.id": "gongji-ready-" + uuid.uuid4().hex})
        p.init_transactions(30)
        p.begin_transaction()
        p.produce(topic, b"ready", partition=0)
        p.commit_transaction(30)
        c = Consumer({"bootstrap.servers": brokers, "group.id": "gongji-ready", "enable.auto.commit": False,
                      "isolation.level": "read_committed"})
        c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
        c.close()
        sys.exit(0)
    except Exception as e:  # every failure here is "not ready yet" until the deadline
        last = e
        time.sleep(1)
print("kafka.sh: the transaction or group coordinator is not ready: %s" % last, file=sys.stderr)
sys.exit(1)
PY
}

start_node() {  # DIR NODE
  local dir=$1 node=$2
  nohup java -Xms128m -Xmx${KAFKA_HEAP:-512m} -XX:+UseG1GC -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -Dkafka.logs.dir="$dir/node$node" -cp "$libs/*" kafka.Kafka "$dir/node$node/server.properties" \
    > "$dir/node$node/broker.log" 2>&1 &
  echo $! > "$dir/node$node/pid"
}

wait_port() {  # HOST:PORT SECONDS [PIDFILE]: fails at once when the process of PIDFILE has ended (a port taken)
  local hp=$1 deadline=$((SECONDS + $2)) pidfile=${3:-}
  while ! (exec 3<>"/dev/tcp/${hp%:*}/${hp#*:}") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    if [ -n "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 1; fi
    sleep 0.3
  done
}

start() {
  local dir=$1 count=${2:-1}
  fetch
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  echo "$count" > "$dir/count"
  first_port "$count" "$dir" > "$dir/port.tmp" && mv "$dir/port.tmp" "$dir/port"
  local id
  id=$(java_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  for n in $(seq 1 "$count"); do
    mkdir -p "$dir/node$n"
    node_props "$dir" "$n" "$count" > "$dir/node$n/server.properties"
    if [ ! -f "$dir/node$n/data/meta.properties" ]; then
      java_run kafka.tools.StorageTool format -t "$id" -c "$dir/node$n/server.properties" \
        --add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_password]" > "$dir/node$n/format.log" 2>&1 \
        || { cat "$dir/node$n/format.log" >&2; exit 1; }
    fi
    start_node "$dir" "$n"
  done
  local b n=0
  for b in $(bootstrap_of "$count" "$dir" | tr ',' ' '); do
    n=$((n + 1))
    wait_port "$b" 90 "$dir/node$n/pid" || {
      echo "kafka.sh: broker $b did not start; its log ($dir/node$n/broker.log) ends:" >&2
      tail -n 20 "$dir/node$n/broker.log" >&2
      exit 1
    }
  done
  # Served means the metadata quorum answers: list topics through the admin API.
  local deadline=$((SECONDS + 90))
  local servers
  servers=$(bootstrap_of "$count" "$dir")
  until java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$servers" --list >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "kafka.sh: brokers do not answer" >&2; exit 1; }
    sleep 1
  done
  wait_coordinators "$servers" 120 || exit 1
  echo "$servers"
}

stop() {
  local dir=$1 f pid
  for f in "$dir"/node*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
  done
  for f in "$dir"/node*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

topics() {  # BOOTSTRAP PARTITIONS REPLICAS
  local b=$1 parts=${2:-8} rf=${3:-1} t
  for t in "gongji.events:$parts:retention.ms=-1" "gongji.settlements:$parts:retention.ms=-1" \
           "gongji.dead-letters:1:retention.ms=-1" "gongji.facilities:1:cleanup.policy=compact"; do
    IFS=: read -r name p cfg <<<"$t"
    java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create --if-not-exists --topic "$name" \
      --partitions "$p" --replication-factor "$rf" --config "$cfg" >/dev/null 2> >(grep -v '^SLF4J' >&2)
  done
}

cmd=${1:-}; shift || true
case "$cmd" in
  fetch) fetch ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  kill) kill -9 "$(cat "$1/node$2/pid")" ;;
  restart) start_node "$1" "$2"; wait_port "$(bootstrap_of "$(cat "$1/count")" "$1" | cut -d, -f"$2")" 90 ;;
  topics) topics "$@" ;;
  sasl) sasl "$@" ;;
  tool) fetch; java_run "$@" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
