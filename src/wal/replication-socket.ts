// The one place that reaches into pg-logical-replication. The service keeps its pg Connection
// private as `_connection`; test/unit/library-adapters.test.ts fails when the library moves it.
// - Backpressure must stop the socket itself (PostgreSQL's walsender then waits on a full TCP
//   buffer); the library's own flow control queues messages in memory instead. The socket is the
//   connection's `stream`.
// - The replication messages are read here, from the connection's `copyData` events: the service's
//   own handler formats each message's LSN as text and starts an acknowledgement promise (which does
//   nothing with acknowledgements off), about a tenth of what the relay allocated per event.
import type { LogicalReplicationService } from 'pg-logical-replication';

export interface PausableStream {
  pause(): void;
  resume(): void;
}

interface CopyDataSource {
  removeAllListeners(event: 'copyData'): unknown;
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): unknown;
}

type Internals = { _connection?: (Partial<CopyDataSource> & { stream?: Partial<PausableStream> }) | null };

/** The replication connection's socket, or undefined before it connects (or if the library moved it). */
export function replicationSocket(service: LogicalReplicationService): PausableStream | undefined {
  const stream = (service as unknown as Internals)._connection?.stream;
  return typeof stream?.pause === 'function' && typeof stream.resume === 'function'
    ? (stream as PausableStream)
    : undefined;
}

/**
 * From now on, hands each CopyData message of the replication connection (XLogData, keepalive) to
 * `onCopyData` instead of the service's handler. Call it when the service emits 'start' (the server
 * accepted START_REPLICATION; no CopyData came before). Throws if the library moved its connection.
 */
export function takeCopyData(
  service: LogicalReplicationService,
  onCopyData: (message: Buffer) => void,
): void {
  const connection = (service as unknown as Internals)._connection;
  if (typeof connection?.removeAllListeners !== 'function' || typeof connection.on !== 'function') {
    throw new Error('pg-logical-replication: the replication connection is not where this relay expects it');
  }
  connection.removeAllListeners('copyData');
  connection.on('copyData', ({ chunk }) => onCopyData(chunk));
}
