// A PostgreSQL stop, then a crash, under load: what the reliability tests of both delivery modes
// (reliability-postgres-restart, reliability-exactly-once) do to the database. Each time delivery
// is under way first, and the same relay process streams again after; then delivery resumes.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { RelayProcess } from '../kit/relay.js';
import { localService } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';
import type { OutboxLoad } from './load.js';

export async function stopAndCrashPostgres(
  t: TestContext,
  relay: RelayProcess,
  counter: { readonly delivered: number },
  load: OutboxLoad,
  /** Where delivery stands (deliveryContext), for a wait that times out. */
  context: () => Promise<string>,
): Promise<void> {
  const where = (what: string, since: number) => async (): Promise<string> =>
    `${what} (${counter.delivered - since} delivered since, ${load.committed} committed, ` +
    `${load.retries} writes retried; ${await context()})`;
  const streamingLines = (): number =>
    relay.output.filter((line) => line.includes('"msg":"streaming"')).length;
  for (const mode of ['stop', 'kill'] as const) {
    const delivered = counter.delivered;
    await waitFor(where('delivery under way', delivered), () => counter.delivered > delivered + 1_000, {
      timeoutMs: 60_000,
    });
    const streamed = streamingLines();
    await localService('postgres', mode);
    await localService('postgres', 'start');
    await waitFor(`streaming again after postgres ${mode}`, () => streamingLines() > streamed, {
      timeoutMs: 90_000,
    });
    assert.equal(relay.child.exitCode, null, 'the relay kept running');
    t.diagnostic(`after postgres ${mode}: ${load.committed} committed, ${load.retries} writes retried`);
  }
  const delivered = counter.delivered;
  await waitFor(where('delivery resumed', delivered), () => counter.delivered > delivered + 1_000, {
    timeoutMs: 60_000,
  });
}
