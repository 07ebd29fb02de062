// A Kafka destination, as the descriptor (kafka.ts) compiles it and the sink (kafka-sink.ts, loaded
// only when a route needs Kafka) publishes to it: a leaf, so neither imports the other for it.

export interface KafkaDestination {
  readonly sink: 'kafka';
  readonly topic: string;
  readonly label: string;
}
