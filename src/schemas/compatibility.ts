// Schema evolution: each schema compared with its event type's previous version, as `outbox-relay
// schemas check` and the relay's start-up do. Pure. Rules:
// - Avro: avsc's resolver, the Avro specification's resolution rules. `backward`: the new schema
//   reads what the old one wrote; `forward`: the old one reads what the new one writes; `full`: both.
// - Protobuf: a field number present in both versions of a message keeps its type, its label
//   (repeated or not) and map-ness; the event type's message must stay. Symmetric, so every mode.
// - JSON Schema: each version must compile; compatibility between versions is not checked.
import { compileAvro } from '../formats/avro.js';
import { compileProtobuf } from '../formats/protobuf.js';
import { jsonSchema } from '../formats/json-schema.js';
import type { FormatSettings } from '../formats/format.js';
import type { SchemaFile, SchemaSet } from './files.js';
import { versionsOf } from './files.js';
import type protobuf from 'protobufjs';

export const COMPATIBILITY_MODES = ['backward', 'forward', 'full'] as const;
export type CompatibilityMode = (typeof COMPATIBILITY_MODES)[number];

/**
 * One line per problem, naming the event type, the versions and the field; empty when every
 * consecutive pair is compatible. A file that does not compile throws ConfigError naming it.
 */
export function compatibilityProblems(set: SchemaSet, mode: CompatibilityMode = 'backward'): string[] {
  const problems: string[] = [];
  const eventTypes = [...new Set(set.files.map((file) => file.eventType))];
  for (const eventType of eventTypes) {
    problems.push(...pairs(versionsOf(set, 'avro', eventType), (a, b) => avroProblems(a, b, mode)));
    problems.push(...pairs(versionsOf(set, 'protobuf', eventType), protobufProblems));
  }
  // JSON Schemas are compiled (a broken one is refused) but not compared.
  const settings: FormatSettings = { database: '', table: '', cloudEventsSource: undefined, schemas: set };
  jsonSchema.create(settings, undefined);
  return problems;
}

function pairs(
  versions: SchemaFile[],
  compare: (older: SchemaFile, newer: SchemaFile) => string[],
): string[] {
  if (versions.length === 1) compare(versions[0]!, versions[0]!);
  return versions.slice(1).flatMap((newer, index) => compare(versions[index]!, newer));
}

function avroProblems(older: SchemaFile, newer: SchemaFile, mode: CompatibilityMode): string[] {
  const [oldType, newType] = [compileAvro(older), compileAvro(newer)];
  const where = `${newer.eventType} v${older.version} -> v${newer.version} (avro)`;
  const problems: string[] = [];
  const resolve = (reader: typeof oldType, writer: typeof oldType, what: string): void => {
    try {
      reader.createResolver(writer);
    } catch (error) {
      problems.push(`${where}: ${what}: ${(error as Error).message}`);
    }
  };
  if (mode !== 'forward')
    resolve(newType, oldType, `v${newer.version} cannot read v${older.version} (backward)`);
  if (mode !== 'backward')
    resolve(oldType, newType, `v${older.version} cannot read v${newer.version} (forward)`);
  return problems;
}

function protobufProblems(older: SchemaFile, newer: SchemaFile): string[] {
  const [oldType, newType] = [compileProtobuf(older), compileProtobuf(newer)];
  if (older === newer) return [];
  const where = `${newer.eventType} v${older.version} -> v${newer.version} (protobuf)`;
  return compareMessages(oldType, newType, where, new Set());
}

function compareMessages(
  older: protobuf.Type,
  newer: protobuf.Type,
  where: string,
  seen: Set<string>,
): string[] {
  if (seen.has(older.fullName)) return [];
  seen.add(older.fullName);
  const problems: string[] = [];
  for (const oldField of older.fieldsArray) {
    const newField = newer.fieldsById[oldField.id];
    if (!newField) continue;
    const describe = (field: protobuf.Field): string =>
      `${field.repeated ? 'repeated ' : ''}${field.map ? 'map ' : ''}${field.resolvedType ? field.resolvedType.fullName.slice(1) : field.type}`;
    const [was, is] = [describe(oldField), describe(newField)];
    if (was !== is)
      problems.push(
        `${where}: field ${oldField.id} (${older.fullName.slice(1)}.${oldField.name}) was ${was}, is ${is}`,
      );
    else if (oldField.resolvedType && 'fieldsArray' in oldField.resolvedType && newField.resolvedType)
      problems.push(
        ...compareMessages(oldField.resolvedType, newField.resolvedType as protobuf.Type, where, seen),
      );
  }
  return problems;
}
