// table.expand.json.payload: the outbox router's payload as a Connect struct instead of a JSON
// string. Debezium infers a schema from the one document (io.debezium.transforms.outbox.
// JsonSchemaData, 3.4) and builds the value against it; this module does the same and writes the
// value as JsonConverter does. Pure.
//
// Where Debezium cannot infer a schema (a payload that is not an object, an array mixing types, an
// array of nulls) it keeps the JSON string, and so do we (expandPayload returns undefined). Where it
// infers one but cannot build the value (a top-level array, an integer beyond a long, an array of
// objects whose fields disagree in type) Debezium's task fails for good; we keep the JSON string
// there too (docs/migrating-from-debezium.md).
import type * as jsonc from 'jsonc-parser';
import type { Node } from 'jsonc-parser';
import { lazyModule } from '../lazy-module.js';
import { jacksonString, javaDouble, schemaJson } from './connect-json.js';
import type { ConnectField, ConnectSchema } from './connect-json.js';

const loadJsoncParser = lazyModule<typeof jsonc>('jsonc-parser');

/** Debezium's struct for the payload: its schema, and the value as JSON. */
export interface ExpandedPayload {
  readonly schema: ConnectSchema;
  readonly json: string;
}

class NotExpandable extends Error {}

const INT32 = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

type NumberKind = 'int32' | 'int64' | 'double' | 'big';

// Jackson reads an integer into the smallest of int, long and BigInteger, a fraction into a double.
function numberKind(text: string): NumberKind {
  if (/[.eE]/.test(text)) return 'double';
  const value = BigInt(text);
  if (value >= INT32.min && value <= INT32.max) return 'int32';
  return value >= INT64.min && value <= INT64.max ? 'int64' : 'big';
}

const scalar = (type: 'string' | 'boolean' | 'int32' | 'int64' | 'double'): ConnectSchema => ({
  type,
  optional: true,
});

/**
 * The payload column's JSON text (as PostgreSQL printed it) expanded under the field name `field`
 * (table.field.event.payload); undefined where the JSON string is kept.
 */
export function expandPayload(text: string, field: string): ExpandedPayload | undefined {
  // Debezium parses only what starts as an object or array; a top-level array fails later (above).
  if (!text.startsWith('{')) return undefined;
  const root = loadJsoncParser().parseTree(text);
  if (root === undefined) return undefined;
  try {
    const schema = inferSchema(text, field, root);
    if (schema === undefined) return undefined;
    return { schema, json: valueJson(text, root, schema) };
  } catch (error) {
    if (error instanceof NotExpandable) return undefined;
    throw error;
  }
}

/** JsonSchemaData.toConnectSchema: undefined for a null or an empty array (the field is left out). */
function inferSchema(text: string, key: string | undefined, node: Node): ConnectSchema | undefined {
  switch (node.type) {
    case 'string':
      return scalar('string');
    case 'boolean':
      return scalar('boolean');
    case 'number': {
      const kind = numberKind(numberText(text, node));
      return scalar(kind === 'big' ? 'double' : kind);
    }
    case 'array': {
      const elements = node.children ?? [];
      if (elements.length === 0) return undefined;
      return { type: 'array', items: elementSchema(text, key, elements), optional: true };
    }
    case 'object': {
      const fields: ConnectField[] = [];
      for (const [name, value] of properties(node)) {
        const schema = inferSchema(text, key ? `${key}.${name}` : name, value);
        if (schema !== undefined && !fields.some((each) => each.name === name)) fields.push({ name, schema });
      }
      return { type: 'struct', fields, optional: true, ...(key ? { name: key } : {}) };
    }
    default:
      return undefined;
  }
}

// toConnectSchemaWithCycles: the first non-null element decides; every other must be of its JSON
// type (and number kind). Objects' schemas are merged, each field where it first appears. Debezium
// merges the distinct schemas in a HashSet's order, which differs between JVM runs when an array's
// objects do not all have the same fields; we take the order they appear in.
function elementSchema(text: string, key: string | undefined, elements: readonly Node[]): ConnectSchema {
  const present = elements.filter((element) => element.type !== 'null');
  const sample = present[0];
  if (sample === undefined) throw new NotExpandable('an array of nulls');
  for (const element of present) {
    if (element.type !== sample.type) throw new NotExpandable('an array of mixed types');
    if (
      element.type === 'number' &&
      numberKind(numberText(text, element)) !== numberKind(numberText(text, sample))
    )
      throw new NotExpandable('an array of mixed number types');
  }
  if (sample.type !== 'object') {
    const schema = inferSchema(text, undefined, sample);
    if (schema === undefined) throw new NotExpandable('an array of empty arrays');
    return schema;
  }
  const distinct = new Map<string, ConnectSchema>();
  for (const element of present) {
    const schema = inferSchema(text, key, element)!;
    distinct.set(schemaJson(schema), schema);
  }
  const [first, ...others] = [...distinct.values()] as [ConnectSchema & { type: 'struct' }];
  const fields = [...first.fields];
  for (const other of others as (ConnectSchema & { type: 'struct' })[])
    for (const field of other.fields)
      if (!fields.some((each) => each.name === field.name)) fields.push(field);
  return { ...first, fields };
}

/** The value JsonConverter writes for `node` under `schema`; throws NotExpandable where Connect would. */
function valueJson(text: string, node: Node, schema: ConnectSchema): string {
  switch (node.type) {
    case 'null':
      return 'null';
    case 'string':
      if (schema.type !== 'string') throw new NotExpandable('a string where the schema says otherwise');
      return jacksonString(node.value as string);
    case 'boolean':
      if (schema.type !== 'boolean') throw new NotExpandable('a boolean where the schema says otherwise');
      return String(node.value as boolean);
    case 'number': {
      const source = numberText(text, node);
      const kind = numberKind(source);
      if (kind !== schema.type) throw new NotExpandable('a number of another type than its schema');
      return kind === 'double' ? javaDouble(Number(source)) : BigInt(source).toString();
    }
    case 'array': {
      if (schema.type !== 'array') throw new NotExpandable('an array where the schema says otherwise');
      return `[${(node.children ?? []).map((element) => valueJson(text, element, schema.items)).join(',')}]`;
    }
    case 'object': {
      if (schema.type !== 'struct') throw new NotExpandable('an object where the schema says otherwise');
      const values = new Map(properties(node));
      const members = schema.fields.map((field) => {
        const value = values.get(field.name);
        return `${jacksonString(field.name)}:${value === undefined ? 'null' : valueJson(text, value, field.schema)}`;
      });
      return `{${members.join(',')}}`;
    }
    default:
      throw new NotExpandable(`a ${node.type} node`);
  }
}

function numberText(text: string, node: Node): string {
  return text.slice(node.offset, node.offset + node.length);
}

/** An object's members in document order (jsonb has no duplicate keys). */
function properties(node: Node): [string, Node][] {
  return (node.children ?? []).map((property) => {
    const [name, value] = property.children as [Node, Node];
    return [name.value as string, value];
  });
}
