// The Confluent wire format of a registry mode message, and the subjects schemas are registered
// under. Pure. Framing: magic byte 0, the schema id (4 bytes, big-endian), for Protobuf the path of
// the message type in its file (message indexes), then the body. Subjects: Confluent's
// TopicNameStrategy (`<topic>-value`), RecordNameStrategy (`<record>`) and TopicRecordNameStrategy
// (`<topic>-<record>`). https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format
import type protobuf from 'protobufjs';
import { lazyModule } from '../lazy-module.js';

/** protobufjs, for the protobuf format and its registry framing. */
export const loadProtobuf = lazyModule<typeof protobuf>('protobufjs');

export const SUBJECT_STRATEGIES = ['topic', 'record', 'topic-record'] as const;
export type SubjectStrategy = (typeof SUBJECT_STRATEGIES)[number];

/** The subject a message value's schema is registered under. */
export function subjectName(strategy: SubjectStrategy, topic: string, recordName: string): string {
  switch (strategy) {
    case 'topic':
      return `${topic}-value`;
    case 'record':
      return recordName;
    case 'topic-record':
      return `${topic}-${recordName}`;
  }
}

/** The magic byte and the schema id. */
export const CONFLUENT_HEADER_BYTES = 5;

/** Magic byte 0 and the schema id, big-endian. */
export function confluentHeader(schemaId: number): Buffer {
  const header = Buffer.alloc(CONFLUENT_HEADER_BYTES);
  header.writeUInt32BE(schemaId, 1);
  return header;
}

/**
 * Where `type` sits in its file: its index among the top-level messages, then among its parent's
 * nested messages, outermost first (declaration order, which protobufjs keeps).
 */
export function protobufMessageIndexes(type: protobuf.Type): number[] {
  const indexes: number[] = [];
  let current: protobuf.ReflectionObject = type;
  while (current.parent) {
    const siblings: protobuf.ReflectionObject[] = current.parent.nestedArray.filter(
      (candidate) => candidate instanceof loadProtobuf().Type,
    );
    indexes.unshift(siblings.indexOf(current));
    // A package is a namespace, not a message: the indexes end at the file's top level.
    if (!(current.parent instanceof loadProtobuf().Type)) break;
    current = current.parent;
  }
  return indexes;
}

/** The indexes as Confluent writes them: zig-zag varints, count first; `[0]` as the single byte 0. */
export function encodeMessageIndexes(indexes: readonly number[]): Buffer {
  if (indexes.length === 1 && indexes[0] === 0) return Buffer.from([0]);
  const bytes: number[] = [];
  for (const value of [indexes.length, ...indexes]) {
    let zigzag = value * 2; // zig-zag of a non-negative number
    while (zigzag >= 0x80) {
      bytes.push((zigzag & 0x7f) | 0x80);
      zigzag = Math.floor(zigzag / 128);
    }
    bytes.push(zigzag);
  }
  return Buffer.from(bytes);
}
