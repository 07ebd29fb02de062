// RabbitMQ sink: one connection, one confirm channel, persistent and mandatory messages.
//
// State: `outgoing` holds the publishes not yet sent, in call order; `link` is the current connection
// with its confirm channel, the messages sent on it and not yet confirmed (in publish order) and the
// exchanges known to exist on it. One pump sends from the head of `outgoing` while fewer than
// maxUnconfirmed are unconfirmed and the channel's write buffer takes more (else it waits for 'drain').
// Before the first publish to an exchange on a connection, the exchange is declared (assert) or
// checked on a short-lived channel of its own (a failed declaration closes its channel); everything
// behind waits for that one round trip, so call order is publish order.
// A message no queue takes comes back (basic.return) before its ack; that ack rejects it as
// unroutable. A nack puts the message back for another try (see onNack). A lost channel or
// connection puts every unconfirmed message back at the head of `outgoing`, in its order, so after
// reconnecting they are sent again before anything newer: a key's messages never overtake each other
// (a resend may duplicate one).
// close() ends the retrying: messages not yet confirmed stay unsettled (neither confirmed nor
// dead-lettered), so the relay never completes them and the next start publishes them again.
import type { Logger } from 'pino';
import { backoffDelay } from '../pipeline/backoff.js';
import { sleep } from '../pipeline/sleep.js';
import type { RabbitMqDestination, RabbitMqSinkOptions } from './rabbitmq-destination.js';
import { closeConnection, describeBroker, publishProperties } from './rabbitmq-amqp.js';
import { exchangeRefusal, returnRefusal, sizeLimitOf, tooLarge, unencodable } from './rabbitmq-refusals.js';
import { declareExchange, openLink, Readiness } from './rabbitmq-link.js';
import type { Link, Pending } from './rabbitmq-link.js';
import { OutgoingQueue } from './rabbitmq-queues.js';
import type { FormattedDestination, Publication, Sink } from './sink.js';

export class RabbitMqSink implements Sink {
  readonly name = 'rabbitmq';
  private readonly log: Logger;
  private readonly outgoing = new OutgoingQueue<Pending>();
  private seq = 0;
  private link: Link | undefined;
  private running: Promise<void> | undefined;
  private connectWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private wake: (() => void) | undefined;
  private closing = false;
  private readonly closed = new AbortController();
  private readonly state: Readiness;
  /** Lost links since the last confirmation: a link that dies at once is not retried in a tight loop. */
  private lossesInARow = 0;
  private nackedInARow = 0;
  private resumeAfterNackAt = 0;
  /** The broker's max_message_size, once it told us by refusing a larger message. */
  private brokerMaxBytes = Number.POSITIVE_INFINITY;

  constructor(private readonly options: RabbitMqSinkOptions) {
    this.log = options.logger.child({ sink: 'rabbitmq' });
    this.state = new Readiness(options.onReadyChange);
  }

  get ready(): boolean {
    return this.state.ready;
  }

  /** Resolves once connected; keeps reconnecting in the background until close(). */
  connect(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the RabbitMQ sink is closed'));
    this.running ??= this.maintain();
    if (this.state.connected) return Promise.resolve();
    return new Promise((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
  }

  publish(publication: Publication): void {
    const { event } = publication;
    if (publication.destination.sink !== 'rabbitmq')
      throw new Error(`rabbitmq sink got a ${publication.destination.sink} destination`);
    const destination = publication.destination as RabbitMqDestination & FormattedDestination;
    const { format } = destination;
    const bodyBytes = Buffer.byteLength(format.body(event, destination), 'utf8');
    const limit = Math.min(this.options.maxMessageBytes, this.brokerMaxBytes);
    if (bodyBytes > limit) return publication.failed(tooLarge(bodyBytes, limit, destination.exchange));
    const { exchange, routingKey, assertExchange } = destination;
    this.outgoing.push({
      seq: this.seq++,
      exchange,
      routingKey,
      messageId: event.id,
      assertExchange,
      bodyBytes,
      publication,
    });
    this.notify();
  }

  /** The relay has already waited for what it wanted delivered: stop retrying and disconnect. */
  async close(): Promise<void> {
    this.closing = true;
    this.closed.abort();
    this.notify();
    for (const waiter of this.connectWaiters.splice(0)) waiter.reject(new Error('the RabbitMQ sink closed'));
    // A connection attempt under way ends by itself (refused, or its timeout) and is then closed.
    if (this.link) await closeConnection(this.link.connection);
  }

  /** Connects, pumps until the link is lost, puts its unconfirmed messages back, reconnects. */
  private async maintain(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      let link: Link;
      try {
        link = await this.open();
      } catch (error) {
        if (this.closing) break;
        failures += 1;
        this.options.onPublishError?.(error);
        const fields = { err: error, attempt: failures, broker: describeBroker(this.options.url) };
        // An outage is logged once, when the connection is lost; its attempts are detail.
        if (this.lossesInARow > 0) this.log.debug(fields, 'rabbitmq: connect failed, retrying');
        else this.log.warn(fields, 'rabbitmq: connect failed, retrying');
        await sleep(backoffDelay(failures + this.lossesInARow, 200, 5_000), this.closed.signal);
        continue;
      }
      if (this.lossesInARow > 0)
        this.log.info({ attempts: failures + 1, queued: this.outgoing.length }, 'rabbitmq: reconnected');
      failures = 0;
      this.link = link;
      this.state.blocked = false;
      this.state.set({ connected: true });
      for (const waiter of this.connectWaiters.splice(0)) waiter.resolve();

      await this.pump(link);

      this.link = undefined;
      clearInterval(link.confirmWatch);
      const unconfirmed = link.unconfirmed.reset();
      this.outgoing.putBack(unconfirmed);
      // Only the channel may have died (e.g. an exchange deleted under a publish): start afresh.
      const closed = closeConnection(link.connection);
      if (this.closing) {
        await closed;
        break;
      }
      const error = link.error ?? new Error('connection closed');
      this.lossesInARow += 1;
      this.options.onPublishError?.(error);
      this.log.warn(
        { err: error, resending: unconfirmed.length, queued: this.outgoing.length },
        'rabbitmq: connection lost, reconnecting',
      );
      this.state.set({ connected: false });
      this.learnSizeLimit(error);
      await closed;
      if (this.lossesInARow > 1)
        await sleep(backoffDelay(this.lossesInARow - 1, 200, 5_000), this.closed.signal);
    }
  }

  private open(): Promise<Link> {
    return openLink<Pending>(this.options.url, this.options.tls, {
      log: this.log,
      closing: () => this.closing,
      blocked: () => this.state.blocked,
      setBlocked: (blocked) => this.state.set({ blocked }),
      lose: (link, error) => this.lose(link, error),
      drained: () => this.notify(),
      ack: (link, deliveryTag, multiple) => this.onAck(link, deliveryTag, multiple),
      nack: (link, deliveryTag, multiple) => this.onNack(link, deliveryTag, multiple),
    });
  }

  /** Sends from the head of `outgoing` until the link is lost or the sink closes. */
  private async pump(link: Link): Promise<void> {
    while (!link.lost && !this.closing) {
      const next = this.outgoing.peek();
      if (!next || link.unconfirmed.size >= this.options.maxUnconfirmed || !link.writable) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const pause = this.resumeAfterNackAt - Date.now();
      if (pause > 0) {
        await sleep(pause, this.closed.signal);
        continue;
      }
      if (!link.exchanges.has(next.exchange)) {
        await this.prepareExchange(link, next);
        continue;
      }
      this.outgoing.shift();
      this.send(link, next);
    }
  }

  private send(link: Link, pending: Pending): void {
    let writable: boolean;
    try {
      const { event, destination } = pending.publication;
      const message = destination.format.encode(event, destination);
      writable = link.channel.publish(
        pending.exchange,
        pending.routingKey,
        typeof message.body === 'string' ? Buffer.from(message.body, 'utf8') : message.body,
        publishProperties(message),
      );
    } catch (error) {
      // amqplib refuses headers that do not fit its encoding buffer before sending anything.
      if (error instanceof RangeError) {
        this.options.onPublishError?.(error);
        pending.publication.failed(unencodable(error));
        return;
      }
      this.outgoing.putBack([pending]);
      this.lose(link, error);
      return;
    }
    link.unconfirmed.published(pending);
    if (!writable) link.writable = false;
  }

  /** Declares or checks the exchange of `pending` on a channel of its own; refuses what cannot go. */
  private async prepareExchange(link: Link, pending: Pending): Promise<void> {
    const { exchange, assertExchange } = pending;
    const failure = await declareExchange(link, exchange, assertExchange);
    if (!failure || link.lost || this.closing) return;
    const refusal = exchangeRefusal(failure.error, exchange, assertExchange);
    if (!refusal) return this.lose(link, failure.error);
    // Every waiting publish to it would meet the same answer now; later ones ask again.
    const refused = this.outgoing.removeWhere(
      (other) => other.exchange === exchange && other.assertExchange === assertExchange,
    );
    for (const other of refused) {
      this.options.onPublishError?.(refusal);
      other.publication.failed(refusal);
    }
  }

  private onAck(link: Link, deliveryTag: number, multiple: boolean): void {
    const returned: Pending[] = [];
    for (const { item, returnCode } of link.unconfirmed.confirm(deliveryTag, multiple)) {
      const refusal = returnCode === undefined ? undefined : returnRefusal(returnCode, item);
      if (returnCode === undefined) item.publication.confirmed();
      else if (!refusal) returned.push(item);
      else {
        this.options.onPublishError?.(refusal);
        item.publication.failed(refusal);
      }
    }
    this.lossesInARow = 0;
    this.nackedInARow = 0;
    if (returned.length > 0) this.sendAgainLater(returned, 'returned');
    this.notify();
  }

  /**
   * The broker could not take these (an internal error, a full queue with overflow reject-publish):
   * retriable, so they are sent again, after a backoff and before anything newer. A message of the
   * same key sent after a nacked one may already be in the queue, so a nack can reorder a key.
   */
  private onNack(link: Link, deliveryTag: number, multiple: boolean): void {
    const nacked = link.unconfirmed.confirm(deliveryTag, multiple).map(({ item }) => item);
    if (nacked.length === 0) return;
    this.sendAgainLater(nacked, 'nacked');
    this.notify();
  }

  /** Messages the broker nacked, or returned with a code that is no refusal: another try, after a backoff. */
  private sendAgainLater(items: Pending[], answer: 'nacked' | 'returned'): void {
    for (const item of items) this.options.onPublishError?.(new Error(`${answer}: ${item.messageId}`));
    this.nackedInARow += 1;
    this.resumeAfterNackAt = Date.now() + backoffDelay(this.nackedInARow, 100, 5_000);
    this.log.warn(
      { messages: items.length },
      `rabbitmq: the broker ${answer} messages, publishing them again`,
    );
    this.outgoing.putBack(items);
  }

  private lose(link: Link, error: unknown): void {
    link.error ??= error;
    if (link.lost) return;
    link.lost = true;
    this.notify();
  }

  /** RabbitMQ closed the channel over a body above its max_message_size: refuse those from now on. */
  private learnSizeLimit(error: unknown): void {
    const limit = sizeLimitOf(error);
    if (limit === undefined) return;
    this.brokerMaxBytes = limit;
    this.log.warn(
      { maxMessageBytes: this.brokerMaxBytes },
      "rabbitmq: the broker's max_message_size is below RABBITMQ_MAX_MESSAGE_BYTES: lower the latter to match",
    );
    for (const pending of this.outgoing.removeWhere((p) => p.bodyBytes > this.brokerMaxBytes))
      pending.publication.failed(tooLarge(pending.bodyBytes, this.brokerMaxBytes, pending.exchange));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
