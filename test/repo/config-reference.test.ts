// docs/configuration.md documents exactly the variables src/config.ts reads, with their defaults and
// their one-line docs (in each row's meaning); the README's short table and the docs' other variable tables name only real variables, with the same
// defaults.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CONFIG_VARIABLES } from '../../src/config.js';
import { ROOT } from '../kit/services.js';

interface DocumentedVariable {
  readonly name: string;
  /** The default column: a `code` value, or its words (required, none). */
  readonly default: string;
  /** The meaning column. */
  readonly meaning: string;
}

/**
 * Rows of Markdown tables whose first cell is a `VARIABLE` (or `A` / `B` with defaults `x` / `y`).
 * Other tables and rows (routes keys, metrics) do not match.
 */
function documentedVariables(markdown: string): DocumentedVariable[] {
  const rows: DocumentedVariable[] = [];
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    if (cells.length < 4 || !/^`[A-Z][A-Z0-9_]+`( \/ `[A-Z][A-Z0-9_]+`)*$/.test(cells[1]!)) continue;
    const names = cells[1]!.split(' / ').map((name) => name.slice(1, -1));
    const defaults = cells[2]!.split(' / ');
    names.forEach((name, index) => {
      const value = defaults.length === names.length ? defaults[index]! : cells[2]!;
      rows.push({ name, default: value.replace(/^`(.*)`$/, '$1'), meaning: cells[3]! });
    });
  }
  return rows;
}

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const SCHEMA = new Map(CONFIG_VARIABLES.map((variable) => [variable.name, variable.default]));
const DOCS = new Map(CONFIG_VARIABLES.map((variable) => [variable.name, variable.doc]));

/** What the default column must say for a variable, from the schema. */
function expectedDefault(name: string): string {
  const value = SCHEMA.get(name);
  if (value !== undefined) return value;
  return name === 'DATABASE_URL' ? 'required' : 'none';
}

describe('docs/configuration.md', () => {
  const documented = documentedVariables(read('docs/configuration.md'));

  test('lists every variable src/config.ts reads, once, and no other', () => {
    const names = documented.map(({ name }) => name);
    assert.deepEqual(
      names.filter((name, index) => names.indexOf(name) !== index),
      [],
      'documented twice',
    );
    assert.deepEqual(
      [...SCHEMA.keys()].filter((name) => !names.includes(name)),
      [],
      'read but not documented',
    );
    assert.deepEqual(
      names.filter((name) => !SCHEMA.has(name)),
      [],
      'documented but not read',
    );
  });

  test('gives each variable the default the schema applies (required or none when it has none)', () => {
    for (const { name, default: value } of documented) {
      assert.equal(value, expectedDefault(name), name);
    }
  });

  test("gives each variable a meaning that contains the setting's one-line doc", () => {
    for (const { name, meaning } of documented) {
      const doc = DOCS.get(name);
      assert.ok(doc, `${name} has no doc in its setting`);
      assert.ok(meaning.includes(doc), `${name}: the meaning does not contain ${JSON.stringify(doc)}`);
    }
  });
});

/** Every `VARIABLE` named in the first cell of a Markdown table row. */
function tableVariables(markdown: string): string[] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!));
}

describe('other documents', () => {
  test('the README table has the essentials with their defaults, and links the full reference', () => {
    const readme = read('README.md');
    const documented = documentedVariables(readme);
    assert.ok(documented.some(({ name }) => name === 'DATABASE_URL'));
    for (const { name, default: value } of documented) {
      assert.ok(SCHEMA.has(name), `${name} is not read by src/config.ts`);
      assert.equal(value, expectedDefault(name), name);
    }
    assert.match(readme, /\]\(docs\/configuration\.md\)/);
  });

  for (const path of ['docs/operations.md', 'docs/deploy.md', 'docs/postgres-setup.md']) {
    test(`${path} tables name only variables the relay reads`, () => {
      assert.deepEqual(
        tableVariables(read(path)).filter((name) => !SCHEMA.has(name)),
        [],
      );
    });
  }
});
