// The probe server on a real local socket: /metrics, /healthz (with a real blocked event loop), /readyz.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { monitorLoopHealth } from '../../src/observability/event-loop.js';
import { startProbeServer } from '../../src/observability/http.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { waitFor } from '../kit/wait.js';

describe('observability/http startProbeServer', () => {
  test('serves metrics, readiness with its reason, and fails liveness after the loop was blocked', async () => {
    const metrics = createMetrics({ lagSeconds: () => 0, inFlightEvents: () => 0, sinks: [] });
    let notReady: string | undefined = 'not streaming';
    let standby = false;
    const loop = monitorLoopHealth(200);
    const server = await startProbeServer(
      '127.0.0.1',
      0,
      metrics.registry,
      { notReadyReason: () => notReady, isStandby: () => standby },
      loop,
    );
    const base = `http://127.0.0.1:${server.port}`;
    // One connection per request: no keep-alive socket outlives the server (test/kit/no-leaks.ts).
    const get = (path: string) => fetch(`${base}${path}`, { headers: { connection: 'close' } });
    try {
      const scrape = await get('/metrics');
      assert.equal(scrape.status, 200);
      assert.match(scrape.headers.get('content-type') ?? '', /text\/plain/);
      assert.match(await scrape.text(), /^outbox_relay_leader 0$/m);

      const notReadyResponse = await get('/readyz');
      assert.equal(notReadyResponse.status, 503);
      assert.deepEqual(await notReadyResponse.json(), { status: 'not ready', reason: 'not streaming' });
      assert.equal((await get('/readyz?standby=ready')).status, 503, 'not a standby: no exception');
      notReady = 'standby: another instance holds the slot';
      standby = true;
      assert.equal((await get('/readyz')).status, 503);
      const standbyResponse = await get('/readyz?standby=ready');
      assert.equal(standbyResponse.status, 200);
      assert.deepEqual(await standbyResponse.json(), { status: 'standby' });
      [notReady, standby] = [undefined, false];
      assert.equal((await get('/readyz')).status, 200);
      assert.equal((await get('/readyz?standby=ready')).status, 200);

      assert.equal((await get('/healthz')).status, 200);
      // Block the loop for real, longer than the threshold.
      const until = Date.now() + 600;
      while (Date.now() < until);
      const unhealthy = await waitFor('the monitor to see the blocked loop', async () => {
        const response = await get('/healthz');
        return response.status === 503 ? ((await response.json()) as { reason: string }) : undefined;
      });
      assert.match(unhealthy.reason, /event loop delayed \d+ ms \(limit 200 ms\)/);
      assert.equal((await get('/nope')).status, 404);
    } finally {
      loop.stop();
      await server.close();
    }
  });
});
