// The client-alone baselines' publishing loop (kafka-platformatic.ts, kafka-ts.ts): a warm-up
// message outside the timing (metadata, a producer id), then `count` messages in batches of
// `batchSize`, at most `inFlight` batches unacknowledged; resolves with the seconds the batches took.
import type { RawMessage } from './brokers.js';

export async function timedBatches<M>(
  options: { count: number; batchSize: number; inFlight: number; message: (index: number) => RawMessage },
  toClient: (message: RawMessage) => M,
  send: (messages: M[]) => Promise<unknown>,
): Promise<number> {
  const { count, batchSize, inFlight, message } = options;
  await send([toClient(message(0))]);
  const started = performance.now();
  const sending = new Set<Promise<unknown>>();
  for (let sent = 0; sent < count;) {
    const messages: M[] = [];
    for (const end = Math.min(count, sent + batchSize); sent < end; sent++)
      messages.push(toClient(message(sent)));
    const batch: Promise<unknown> = send(messages).finally(() => sending.delete(batch));
    sending.add(batch);
    if (sending.size >= inFlight) await Promise.race(sending);
  }
  await Promise.all(sending);
  return (performance.now() - started) / 1000;
}
