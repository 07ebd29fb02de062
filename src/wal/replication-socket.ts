// The one place that reaches into pg-logical-replication. Backpressure must stop the socket itself
// (PostgreSQL's walsender then waits on a full TCP buffer); the library's own flow control queues
// messages in memory instead. The service keeps its pg Connection private as `_connection`, whose
// `stream` is the socket. test/unit/library-adapters.test.ts fails when the library moves either.
import type { LogicalReplicationService } from 'pg-logical-replication';

export interface PausableStream {
  pause(): void;
  resume(): void;
}

/** The replication connection's socket, or undefined before it connects (or if the library moved it). */
export function replicationSocket(service: LogicalReplicationService): PausableStream | undefined {
  const internals = service as unknown as { _connection?: { stream?: Partial<PausableStream> } | null };
  const stream = internals._connection?.stream;
  return typeof stream?.pause === 'function' && typeof stream.resume === 'function'
    ? (stream as PausableStream)
    : undefined;
}
