// Kafka Connect's JsonConverter (schemas enabled), as Debezium runs it: a Connect schema written as
// JSON, and the {"schema":...,"payload":...} envelope, with the bytes Jackson writes (its string
// escapes, Java's Double.toString). Pure; the debezium format is its only user. The behaviour was
// read from connect-json 4.1.1 (JsonConverter.asJsonSchema) and checked against real Debezium
// (test/fixtures/debezium).

/** A Connect schema, as far as Debezium's outbox router produces them. */
export type ConnectSchema =
  | {
      readonly type: 'string' | 'boolean' | 'int32' | 'int64' | 'double';
      readonly optional: boolean;
      readonly name?: string;
      readonly version?: number;
      /** A string column's default (Debezium sets one for NOT NULL columns with a DEFAULT). */
      readonly default?: string;
    }
  | { readonly type: 'array'; readonly items: ConnectSchema; readonly optional: boolean }
  | {
      readonly type: 'struct';
      readonly fields: readonly ConnectField[];
      readonly optional: boolean;
      readonly name?: string;
    };

export interface ConnectField {
  readonly name: string;
  readonly schema: ConnectSchema;
}

/** JsonConverter.asJsonSchema: type, fields or items, optional, name, version, default; "field" last. */
export function schemaJson(schema: ConnectSchema, field?: string): string {
  let out = `{"type":"${schema.type}"`;
  if (schema.type === 'struct')
    out += `,"fields":[${schema.fields.map((each) => schemaJson(each.schema, each.name)).join(',')}]`;
  else if (schema.type === 'array') out += `,"items":${schemaJson(schema.items)}`;
  out += `,"optional":${schema.optional}`;
  if (schema.type !== 'array') {
    if (schema.name !== undefined) out += `,"name":${jacksonString(schema.name)}`;
    if (schema.type !== 'struct') {
      if (schema.version !== undefined) out += `,"version":${schema.version}`;
      if (schema.default !== undefined) out += `,"default":${jacksonString(schema.default)}`;
    }
  }
  if (field !== undefined) out += `,"field":${jacksonString(field)}`;
  return `${out}}`;
}

/** What the converter writes for a record's key or value: its schema and its JSON payload. */
export function envelope(schema: ConnectSchema, payloadJson: string): string {
  return `{"schema":${schemaJson(schema)},"payload":${payloadJson}}`;
}

// Jackson escapes quotes, backslashes and control characters (short forms where JSON has them, else
// \u00XX in upper case) and, since it does not combine surrogates when writing UTF-8, each half of
// a character beyond the BMP (an emoji becomes \uD83C\uDF89). Everything else is written as is.
// eslint-disable-next-line no-control-regex -- control characters are what this escapes
const JACKSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/g;
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\f': '\\f',
  '\r': '\\r',
};

/** A JSON string as Jackson writes it. */
export function jacksonString(text: string): string {
  const escaped = text.replace(
    JACKSON_ESCAPED,
    (char) => SHORT_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`,
  );
  return `"${escaped}"`;
}

/**
 * Java's Double.toString, which Jackson writes doubles with: plain notation with at least one
 * fraction digit from 10^-3 up to 10^7 (100.0, 0.001), else d.dddE±n (1.0E-4, 1.23456789E7). The
 * digits are the shortest that read back as the same double (JavaScript's, and Java's since JDK 19;
 * JDK 17 can print a longer form for rare values).
 */
export function javaDouble(value: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = Math.abs(value).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);
  const sign = value < 0 ? '-' : '';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    return `${sign}${whole}.${digits.slice(exponent + 1) || '0'}`;
  }
  return `${sign}${digits[0]!}.${digits.slice(1) || '0'}E${exponent}`;
}
