// Completion against a scripted database: rows of a transaction the WAL delivered before other
// sessions could see it are completed once it is visible; rows already gone are not waited for.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PgCompletionStore } from '../../src/completion.js';
import type { CompletedEvent, CompletionDatabase } from '../../src/completion.js';
import { outboxEvent } from '../kit/events.js';

function event(id: string, xid?: number): CompletedEvent {
  return { event: outboxEvent({ id, xid }), deadLetter: undefined };
}

/**
 * A database whose rows become deletable only once their transaction is visible: `visibleAfter`
 * says after how many visibility checks each xid stops running.
 */
class ScriptedDatabase {
  readonly statements: string[] = [];
  private readonly rows: Map<string, number | undefined>;
  private checks = 0;

  constructor(
    rows: Record<string, number | undefined>,
    private readonly visibleAfter: Record<number, number>,
  ) {
    this.rows = new Map(Object.entries(rows));
  }

  readonly pool: CompletionDatabase = {
    query: (text, values) => Promise.resolve({ rows: [], ...this.answer(text, values as unknown[]) }),
    transaction: () => Promise.reject(new Error('no transaction expected')),
  };

  private running(xid: number): boolean {
    return this.checks < (this.visibleAfter[xid] ?? 0);
  }

  private answer(text: string, values: unknown[]): { rowCount: number } {
    if (text.includes('pg_visible_in_snapshot')) {
      this.statements.push('check');
      this.checks += 1;
      return { rowCount: (values[0] as number[]).filter((xid) => this.running(xid)).length };
    }
    this.statements.push('delete');
    let deleted = 0;
    for (const id of values[0] as string[]) {
      if (!this.rows.has(id)) continue;
      const xid = this.rows.get(id);
      if (xid !== undefined && this.running(xid)) continue;
      this.rows.delete(id);
      deleted += 1;
    }
    return { rowCount: deleted };
  }

  get remaining(): string[] {
    return [...this.rows.keys()];
  }
}

const table = { schema: 'public', name: 'outbox' };

describe('PgCompletionStore', () => {
  test('a batch whose rows are all there is completed with one statement', async () => {
    const db = new ScriptedDatabase({ a: 7, b: 7 }, {});
    await new PgCompletionStore(db.pool, table, 'delete').complete([event('a', 7), event('b', 7)]);
    assert.deepEqual(db.statements, ['delete']);
    assert.deepEqual(db.remaining, []);
  });

  test('rows of a transaction not yet visible are completed once it is', async () => {
    const db = new ScriptedDatabase({ a: 7, b: 8 }, { 8: 2 });
    await new PgCompletionStore(db.pool, table, 'delete').complete([event('a', 7), event('b', 8)]);
    assert.deepEqual(db.remaining, [], 'no row left behind');
    assert.deepEqual(db.statements, ['delete', 'check', 'check', 'delete']);
  });

  test('rows already gone (events published again) cost one check, never a wait', async () => {
    const db = new ScriptedDatabase({ b: 8 }, {});
    await new PgCompletionStore(db.pool, table, 'delete').complete([event('a', 7), event('b', 8)]);
    assert.deepEqual(db.statements, ['delete', 'check', 'delete']);
    assert.deepEqual(db.remaining, []);
  });

  test('rows a sweep read (no transaction id) are not checked', async () => {
    const db = new ScriptedDatabase({ b: undefined }, {});
    await new PgCompletionStore(db.pool, table, 'delete').complete([event('a'), event('b')]);
    assert.deepEqual(db.statements, ['delete']);
  });
});
