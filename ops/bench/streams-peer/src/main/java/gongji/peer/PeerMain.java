package gongji.peer;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer of gongji's Kafka benchmark (issue 10 item 5): the ordinary-outpatient fold over
 * gongji.events, one settlement record per claim to an output topic, exactly_once_v2, RocksDB state.
 *
 * <pre>
 *   java -cp 'build/streams-peer/streams-peer.jar:build/streams-peer/lib/*' gongji.peer.PeerMain \
 *     --brokers HOST:PORT --state-dir DIR [--app-id ID] [--topic gongji.events] [--out gongji.peer.settlements]
 *     [--threads 1] [--expect RECORDS] [--idle-exit SECONDS]
 * </pre>
 *
 * Ends on its own: when --expect records have been processed, or when nothing arrived for --idle-exit seconds
 * (default 3) after the first record; then closes (committing the last transaction) and prints
 * {@code peer: records=N claims=C undecodable=U seconds=S idle=I}, where S is start to closed, less the idle wait.
 */
public final class PeerMain {
  private PeerMain() {}

  public static void main(String[] argv) throws InterruptedException {
    Map<String, String> a = args(argv);
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.getOrDefault("app-id", "gongji-streams-peer"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, need(a, "brokers"));
    p.put(StreamsConfig.STATE_DIR_CONFIG, need(a, "state-dir"));
    // Like gongji serve, which commits its settlements and their input offsets in Kafka transactions.
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(a.getOrDefault("threads", "1")));
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    KafkaStreams streams = new KafkaStreams(topology(a.getOrDefault("topic", "gongji.events"),
                                                     a.getOrDefault("out", "gongji.peer.settlements")), p);
    final long expect = Long.parseLong(a.getOrDefault("expect", "0"));
    final long idleNanos = Duration.ofMillis((long) (1000 * Double.parseDouble(a.getOrDefault("idle-exit", "3"))))
                               .toNanos();
    final long start = System.nanoTime();
    streams.start();
    long idle = 0;
    while (true) {
      Thread.sleep(20);
      if (streams.state() == KafkaStreams.State.ERROR || streams.state() == KafkaStreams.State.NOT_RUNNING) {
        System.err.println("peer: streams stopped in state " + streams.state());
        System.exit(1);
      }
      long n = Fold.RECORDS.get();
      if (expect > 0 && n >= expect) break;
      if (n > 0 && System.nanoTime() - Fold.lastRecordNanos > idleNanos) {
        idle = System.nanoTime() - Fold.lastRecordNanos;
        break;
      }
    }
    streams.close(Duration.ofSeconds(60));
    double seconds = (System.nanoTime() - start - idle) / 1e9;
    System.out.printf("peer: records=%d claims=%d undecodable=%d seconds=%.3f idle=%.3f%n", Fold.RECORDS.get(),
                      Fold.CLAIMS.get(), Fold.UNDECODABLE.get(), seconds, idle / 1e9);
    if (expect > 0 && Fold.RECORDS.get() < expect)
      System.err.println("peer: expected " + expect + " records, processed " + Fold.RECORDS.get());
  }

  static Topology topology(String in, String out) {
    Topology t = new Topology();
    t.addSource("events", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), in);
    t.addProcessor("fold", Fold::new, "events");
    for (String store : new String[] {"persons", "facilities", "years", "claims"})
      t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(store), Serdes.String(),
                                                  Serdes.ByteArray()), "fold");
    t.addSink("settlements", out, Serdes.String().serializer(), Serdes.String().serializer(), "fold");
    return t;
  }

  private static Map<String, String> args(String[] argv) {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i < argv.length; i += 2) {
      if (!argv[i].startsWith("--") || i + 1 >= argv.length)
        throw new IllegalArgumentException("peer: expected --option value, got " + argv[i]);
      a.put(argv[i].substring(2), argv[i + 1]);
    }
    return a;
  }

  private static String need(Map<String, String> a, String key) {
    String v = a.get(key);
    if (v == null) throw new IllegalArgumentException("peer: --" + key + " is required");
    return v;
  }
}
