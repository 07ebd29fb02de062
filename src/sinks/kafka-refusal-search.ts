// How the exactly-once sink (kafka-transactional-sink.ts) finds a message the broker refuses, without
// I/O: a transaction refused for a message's sake is sent again one message per transaction, in
// order, so that only the refused one is rejected (and dead-lettered by the relay). A refused
// message is remembered by position and destination: a progress record committed later covers its
// WAL position, and its retry must still be sent rather than skipped as already in Kafka.
import type { WalPosition } from '../wal/event.js';
import type { KafkaDestination } from './kafka-destination.js';
import { transactionSize } from './kafka-progress.js';
import type { FormattedDestination, SinkMessage } from './sink.js';

type Refusable = Pick<SinkMessage, 'position' | 'destination'>;

export class RefusalSearch {
  /** Positions the broker refused: their retries are sent even when the progress passed them. */
  private readonly refused = new Set<string>();
  /** Messages at the head of the queue to send one per transaction (finding a refused one). */
  private singles = 0;

  /** How many of the queue's head (its positions, up to max + 1) the next transaction takes. */
  nextSize(head: readonly (WalPosition | undefined)[], max: number): number {
    return this.singles > 0 ? 1 : transactionSize(head, max);
  }

  /** The broker refused a transaction of several messages for one's sake: send them one by one. */
  search(messages: number): void {
    this.singles = messages;
  }

  /** A transaction of these messages is in Kafka. */
  sent(batch: readonly Refusable[]): void {
    if (this.singles > 0) this.singles -= 1;
    if (this.refused.size === 0) return;
    // A refused message that a later attempt got through needs no exception any more.
    for (const { position, destination } of batch)
      if (position) this.refused.delete(refusalKey(position, destination));
  }

  /** The broker refused this message, sent alone: it leaves the queue, rejected. */
  refusedAlone({ position, destination }: Refusable): void {
    if (position) this.refused.add(refusalKey(position, destination));
    if (this.singles > 0) this.singles -= 1;
  }

  isRefused({ position, destination }: Refusable): boolean {
    return position !== undefined && this.refused.has(refusalKey(position, destination));
  }

  /** The queue changed under the search (messages the progress covers left it): start afresh. */
  reset(): void {
    this.singles = 0;
  }
}

function refusalKey(position: WalPosition, destination: FormattedDestination): string {
  return `${position.commitLsn}/${position.index}/${(destination as KafkaDestination & FormattedDestination).topic}`;
}
