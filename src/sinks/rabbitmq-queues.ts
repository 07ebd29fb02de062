// The RabbitMQ sink's bookkeeping, without I/O: what waits to be sent, and what was sent on the
// current channel but not yet confirmed. Both keep publish order, which is what keeps a key's messages
// in order across nacks and reconnects.

/** A publish, numbered in call order. */
export interface Sequenced {
  readonly seq: number;
}

/** What a basic.return names of the message it gives back. */
export interface ReturnedMessage {
  readonly exchange: string;
  readonly routingKey: string;
  readonly messageId: string | undefined;
}

/**
 * Publishes waiting to be sent, in call order (`seq`). Messages taken back from a channel (never
 * confirmed, or nacked) are put back where their seq places them, before anything newer.
 */
export class OutgoingQueue<T extends Sequenced> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    // Arrays shift in linear time: drop the consumed prefix only now and then.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Puts items taken back from a channel into their call-order place. */
  putBack(items: readonly T[]): void {
    if (items.length === 0) return;
    const merged = [...this.items.slice(this.head), ...items];
    merged.sort((a, b) => a.seq - b.seq);
    this.items = merged;
    this.head = 0;
  }

  /** Removes and returns the items that match, keeping the others in order. */
  removeWhere(predicate: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i]!;
      (predicate(item) ? removed : kept).push(item);
    }
    this.items = kept;
    this.head = 0;
    return removed;
  }
}

export interface Confirmed<T> {
  readonly item: T;
  /** The reply code of the broker's basic.return, when it gave the message back before confirming it. */
  readonly returnCode: number | undefined;
}

interface Tracked<T> {
  readonly tag: number;
  readonly item: T;
  /** When it was published (ms). */
  readonly at: number;
  returnCode: number | undefined;
}

/**
 * Messages published on one confirm channel and not yet confirmed, by delivery tag (1, 2, ... in
 * publish order on the channel). A mandatory message that no queue takes comes back as basic.return
 * before its basic.ack; the return carries no delivery tag, so it is matched by exchange, routing key
 * and message id to the earliest unconfirmed, not yet returned message with those (returns arrive in
 * publish order, so the earliest is the one).
 */
export class UnconfirmedMessages<T extends ReturnedMessage> {
  private entries: Tracked<T>[] = [];
  private lastTag = 0;

  get size(): number {
    return this.entries.length;
  }

  /** Records a message just published on the channel; returns its delivery tag. */
  published(item: T, at = Date.now()): number {
    this.lastTag += 1;
    this.entries.push({ tag: this.lastTag, item, at, returnCode: undefined });
    return this.lastTag;
  }

  /** How long the oldest unconfirmed message has waited for its confirm; 0 when none waits. */
  oldestWait(now = Date.now()): number {
    const oldest = this.entries[0];
    return oldest ? now - oldest.at : 0;
  }

  /** A basic.return with its reply code; false when no unconfirmed message matches it. */
  returned(message: ReturnedMessage, replyCode: number): boolean {
    const entry = this.entries.find(
      ({ item, returnCode }) =>
        returnCode === undefined &&
        item.messageId === message.messageId &&
        item.exchange === message.exchange &&
        item.routingKey === message.routingKey,
    );
    if (entry) entry.returnCode = replyCode;
    return entry !== undefined;
  }

  /** A basic.ack or basic.nack: removes and returns the messages it settles, in publish order. */
  confirm(deliveryTag: number, multiple: boolean): Confirmed<T>[] {
    const end = this.indexAfter(deliveryTag);
    if (multiple) return this.entries.splice(0, end).map(settled);
    const index = end - 1;
    if (index < 0 || this.entries[index]!.tag !== deliveryTag) return [];
    return this.entries.splice(index, 1).map(settled);
  }

  /** The channel is gone: every unconfirmed message, in publish order. A new channel counts from 1. */
  reset(): T[] {
    const items = this.entries.map(({ item }) => item);
    this.entries = [];
    this.lastTag = 0;
    return items;
  }

  /** The index of the first entry whose tag is above `tag` (entries are sorted by tag). */
  private indexAfter(tag: number): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.entries[middle]!.tag <= tag) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

function settled<T>({ item, returnCode }: Tracked<T>): Confirmed<T> {
  return { item, returnCode };
}
