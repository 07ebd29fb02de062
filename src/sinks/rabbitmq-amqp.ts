// RabbitMQ details the sink (rabbitmq-sink.ts) builds on: the AMQP properties of a message and
// connection housekeeping. The broker's refusals are decided in rabbitmq-refusals.ts.
import type { ChannelModel, Options } from 'amqplib';
import type { EncodedMessage } from '../formats/format.js';
import { destroySocket } from './amqplib-socket.js';

const CLOSE_TIMEOUT_MS = 2_000;

/** Persistent, mandatory, and the format's properties and headers. */
export function publishProperties(message: EncodedMessage): Options.Publish {
  return {
    persistent: true,
    mandatory: true,
    messageId: message.id,
    type: message.type,
    contentType: message.contentType,
    ...(message.timestampSeconds === undefined ? {} : { timestamp: message.timestampSeconds }),
    headers: message.headers,
  };
}

/** The broker's address without credentials, for logs. */
export function describeBroker(url: string): string {
  try {
    const { protocol, hostname, port, pathname } = new URL(url);
    return `${protocol}//${hostname}${port ? `:${port}` : ''}${pathname}`;
  } catch {
    return 'an unparsable RabbitMQ URL';
  }
}

/** Closes a connection, giving up on a broker that does not answer. */
export async function closeConnection(connection: ChannelModel): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<boolean>(
    (resolve) => (timer = setTimeout(() => resolve(true), CLOSE_TIMEOUT_MS)),
  );
  const closed = connection.close().then(
    () => false,
    () => false,
  );
  if (await Promise.race([closed, gaveUp])) destroySocket(connection);
  clearTimeout(timer);
}
