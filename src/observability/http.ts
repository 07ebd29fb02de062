// /metrics, /healthz (the process and its event loop answer), /readyz (the relay streams and its
// brokers are connected; otherwise 503 with the reason). `/readyz?standby=ready` also answers 200 for
// a standby waiting for the slot: an orchestrator's readiness probe, for which a healthy standby must
// count as available (or rolling updates and disruption budgets would wait on it forever).
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  /** undefined when ready, else a short reason. */
  notReadyReason(): string | undefined;
  /** True while another instance holds the slot and this one waits to take over. */
  isStandby(): boolean;
}

export interface Liveness {
  /** undefined when alive and responsive, else a short reason. */
  unhealthyReason(): string | undefined;
}

export interface ProbeServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startProbeServer(
  host: string,
  port: number,
  registry: Registry,
  readiness: Readiness,
  liveness: Liveness,
): Promise<ProbeServer> {
  const server: Server = createServer((request, response) => {
    const { pathname: path, searchParams } = new URL(request.url ?? '/', 'http://probe');
    if (path === '/metrics') {
      registry
        .metrics()
        .then((body) => {
          response.writeHead(200, { 'content-type': registry.contentType });
          response.end(body);
        })
        .catch((error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(String(error));
        });
    } else if (path === '/healthz') {
      const reason = liveness.unhealthyReason();
      json(
        response,
        reason === undefined ? 200 : 503,
        reason === undefined ? { status: 'ok' } : { status: 'unhealthy', reason },
      );
    } else if (path === '/readyz') {
      if (searchParams.get('standby') === 'ready' && readiness.isStandby()) {
        json(response, 200, { status: 'standby' });
        return;
      }
      const reason = readiness.notReadyReason();
      json(
        response,
        reason === undefined ? 200 : 503,
        reason === undefined ? { status: 'ready' } : { status: 'not ready', reason },
      );
    } else {
      json(response, 404, { error: 'not found' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}
