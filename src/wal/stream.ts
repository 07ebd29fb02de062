// The replication connection: pg-logical-replication streaming pgoutput, with every acknowledgement
// left to the relay.
//
// The library would otherwise confirm each LSN as it is *received* and again from a periodic timer,
// which tells PostgreSQL to discard WAL whose events were never published. Here `auto` is off and
// the timer disabled; the relay confirms only its watermark (see pipeline/watermark.ts). The
// library starts the stream (START_REPLICATION with pgoutput's options) and owns the connection;
// the messages are read from it here (replication-socket.ts), as bytes: the relay decodes the few
// it needs itself (wal/decode.ts).
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import { quoteIdent } from '../db/identifiers.js';
import { formatLsn } from './lsn.js';
import { replicationSocket, takeCopyData } from './replication-socket.js';
import type { Lsn } from './lsn.js';
import { coerceError } from '../errors.js';

export interface StreamHandlers {
  /** The server accepted START_REPLICATION: changes will follow. */
  onStart(): void;
  /** Called synchronously, in WAL order, for every pgoutput message, as bytes (wal/decode.ts). */
  onMessage(message: Buffer): void;
  /** A primary keepalive: the server's WAL position, and whether it wants an answer now. */
  onKeepalive(serverLsn: Lsn, replyRequested: boolean): void;
}

export interface ReplicationStreamOptions {
  readonly connectionString: string;
  readonly slot: string;
  readonly publication: string;
}

export class ReplicationStream {
  private readonly service: LogicalReplicationService;
  private stopped = false;

  constructor(private readonly options: ReplicationStreamOptions) {
    this.service = new LogicalReplicationService(
      { connectionString: options.connectionString, application_name: `outbox-relay:${options.slot}` },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } },
    );
  }

  /**
   * Streams from the slot's confirmed position until the connection ends. Resolves when stop() ended
   * it; rejects when the server or the network did.
   */
  run(handlers: StreamHandlers): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (error: unknown): void => {
        if (this.stopped) resolve();
        else reject(coerceError(error));
      };
      const stopWith = (error: unknown): void => {
        fail(error);
        void this.service.stop();
      };
      // XLogData: the pgoutput message after its 25-byte header. Keepalive: the server's WAL end,
      // and whether it asks for an answer now.
      const onCopyData = (message: Buffer): void => {
        try {
          if (message[0] === 0x77) handlers.onMessage(message.subarray(25));
          else if (message[0] === 0x6b) handlers.onKeepalive(message.readBigUInt64BE(1), message[17] !== 0);
        } catch (error) {
          stopWith(error);
        }
      };
      this.service.on('start', () => {
        try {
          takeCopyData(this.service, onCopyData);
        } catch (error) {
          return stopWith(error);
        }
        handlers.onStart();
      });
      this.service.on('error', fail);
      // The library pastes the names into START_REPLICATION's `publication_names '...'`, which
      // PostgreSQL splits as identifiers: unquoted, "OutboxPub" would be folded to outboxpub. The
      // name is validated by config.ts (no quotes of either kind) and double-quoted here.
      const plugin = new PgoutputPlugin({
        protoVersion: 1,
        publicationNames: [quoteIdent(this.options.publication)],
      });
      // 0/0: start at the slot's confirmed_flush_lsn. A later position would make PostgreSQL skip
      // transactions that were received but never confirmed.
      this.service
        .subscribe(plugin, this.options.slot, '0/00000000')
        .then(() => fail(new Error('replication stream ended')), fail);
    });
  }

  /** Reports `lsn` as written, flushed and applied: PostgreSQL may discard WAL before it. */
  confirm(lsn: Lsn): void {
    if (lsn <= 0n) return;
    // The library sends the position it is given plus one; PostgreSQL expects the end LSN itself.
    void this.service.acknowledge(formatLsn(lsn - 1n));
  }

  /** Stops reading the socket: PostgreSQL's walsender then blocks on a full TCP buffer. */
  pause(): void {
    replicationSocket(this.service)?.pause();
  }

  resume(): void {
    replicationSocket(this.service)?.resume();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.service.destroy();
  }
}
