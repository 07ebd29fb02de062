// The latency floor's load: the broker's client alone (our sink's settings) publishing messages
// shaped like the relay's straight to a destination, in transactions of the latency runs' size at
// the same offered rate, with the writers' pacing (load.ts). No PostgreSQL and no relay: what the
// latency consumer measures then is what the broker, the client and the consumer take by themselves.
//
// A transaction's time is taken when its messages are handed to the client, the counterpart of the
// writers' COMMIT sent; the client and the consumer run in the bench's process, as the writers do.
import type { BenchBroker, BrokerPublisher, RawMessage } from './brokers.js';
import { rawMessageFactory } from './brokers.js';
import { paced } from './load.js';
import type { LoadResult, LoadShape, PacedSource } from './load.js';

export class FloorPublisher implements PacedSource {
  readonly sentAt: number[] = [];
  /** Messages made so far: keys and headers continue across runs, as a stream of events would. */
  private made = 0;

  private constructor(
    private readonly publisher: BrokerPublisher,
    private readonly message: (index: number, tx: number) => RawMessage,
    private readonly lanes: number,
  ) {}

  /** `lanes` concurrent senders, as many as the latency runs' writers. */
  static async open(
    broker: BenchBroker,
    aggregateType: string,
    payloadBytes: number,
    lanes: number,
  ): Promise<FloorPublisher> {
    const publisher = await broker.publisher(aggregateType);
    return new FloorPublisher(publisher, rawMessageFactory(aggregateType, payloadBytes), lanes);
  }

  run(shape: LoadShape): Promise<LoadResult> {
    return paced(shape, this.lanes, this.sentAt, async (_lane, tx, size) => {
      const messages = Array.from({ length: size }, () => this.message(this.made++, tx));
      this.sentAt[tx] = performance.now();
      await this.publisher.send(messages);
    });
  }

  close(): Promise<void> {
    return this.publisher.close();
  }
}
