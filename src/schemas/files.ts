// The schemas directory (OUTBOX_SCHEMAS_DIR), read once at start-up and by `schemas check`:
// `<dir>/<eventType>/v<N>.avsc` (Avro), `v<N>.proto` (Protobuf), `v<N>.schema.json` (JSON Schema).
// The only module here that touches the file system; compiling and comparing are pure.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type SchemaKind = 'avro' | 'protobuf' | 'json-schema';

const FILE_NAME = /^v([1-9][0-9]{0,8})\.(avsc|proto|schema\.json)$/;
const KIND_OF_EXTENSION: Readonly<Record<string, SchemaKind>> = {
  avsc: 'avro',
  proto: 'protobuf',
  'schema.json': 'json-schema',
};

export interface SchemaFile {
  readonly eventType: string;
  readonly version: number;
  readonly kind: SchemaKind;
  /** `<eventType>/v<N>.<ext>`, relative to the directory: how messages name the file. */
  readonly name: string;
  readonly text: string;
}

export interface SchemaSet {
  readonly dir: string;
  readonly files: readonly SchemaFile[];
}

/** A schemas directory that cannot be read as laid out above. */
export class SchemaDirError extends Error {}

/** Reads every schema file of `dir`; files directly in `dir` (a README) are left alone. */
export function readSchemaDir(dir: string): SchemaSet {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (error) {
    throw new SchemaDirError(`cannot read ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const files: SchemaFile[] = [];
  for (const eventType of entries) {
    const folder = join(dir, eventType);
    if (!statSync(folder).isDirectory()) continue;
    for (const file of readdirSync(folder).sort()) {
      const match = FILE_NAME.exec(file);
      if (!match)
        throw new SchemaDirError(`${eventType}/${file}: expected v<N>.avsc, v<N>.proto or v<N>.schema.json`);
      files.push({
        eventType,
        version: Number(match[1]),
        kind: KIND_OF_EXTENSION[match[2]!]!,
        name: `${eventType}/${file}`,
        text: readFileSync(join(folder, file), 'utf8'),
      });
    }
  }
  return { dir, files };
}

/** The versions of one event type in one kind, oldest first. */
export function versionsOf(set: SchemaSet, kind: SchemaKind, eventType: string): SchemaFile[] {
  return set.files
    .filter((file) => file.kind === kind && file.eventType === eventType)
    .sort((a, b) => a.version - b.version);
}

/** Each event type's newest version in `kind`: the one the relay writes with. */
export function newestOf(set: SchemaSet, kind: SchemaKind): Map<string, SchemaFile> {
  const newest = new Map<string, SchemaFile>();
  for (const file of set.files) {
    if (file.kind !== kind) continue;
    const known = newest.get(file.eventType);
    if (!known || known.version < file.version) newest.set(file.eventType, file);
  }
  return newest;
}
