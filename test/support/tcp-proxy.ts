// A TCP forwarder standing in for a name that moves (a DNS name, a virtual IP, a cloud endpoint):
// clients connect to its port; retarget() closes every forwarded connection and sends new ones to
// another port, as an HA tool moving the address to the new primary would.
import type { AddressInfo } from 'node:net';
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(port: number, target: number): Promise<TcpProxy> {
  let current = target;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(current, '127.0.0.1');
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      // A peer that went away ends both sides; the error itself is the test's business elsewhere.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    // Port 0: the one the system chose.
    port: (server.address() as AddressInfo).port,
    retarget(next) {
      current = next;
      for (const socket of open) socket.destroy();
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
