// Schema migrations on node:sqlite and PostgreSQL: applied once, in order, atomically, and safe when
// several servers open the same fresh database at once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { SqlDriver } from '../../src/store/driver.ts';
import { MIGRATIONS, type Migration } from '../../src/store/migrations.ts';
import { PostgresDriver } from '../../src/store/postgres.ts';
import { SqliteDriver } from '../../src/store/sqlite.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';

// The next version after the released ones (named V2 from when there was one released version).
const NEXT = MIGRATIONS.length + 1;
const RELEASED = MIGRATIONS.map((m) => m.version);
const V2: Migration = { version: NEXT, name: 'extra table', sql: () => 'CREATE TABLE extra (k TEXT PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX extra_by_v ON extra (v)' };
const BROKEN_V2: Migration = { version: NEXT, name: 'half done', sql: () => 'CREATE TABLE extra (k TEXT PRIMARY KEY); INSERT INTO no_such_table VALUES (1)' };

let created = 0;

describe('the released migrations', () => {
  it('are numbered 1, 2, 3… with a name and SQL for both dialects', () => {
    assert.deepEqual(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => i + 1));
    for (const m of MIGRATIONS) {
      assert.ok(m.name.length > 0);
      for (const d of ['sqlite', 'postgres'] as const) assert.match(m.sql(d), /CREATE (TABLE|INDEX)|ALTER TABLE/);
    }
  });
});

function suite(dialect: 'sqlite' | 'postgres', fresh: () => string, driverFor: (url: string) => SqlDriver): void {
  async function open(t: TestContext, url: string, migrations?: readonly Migration[]): Promise<{ store: SqlStore; driver: SqlDriver }> {
    const driver = driverFor(url);
    const store = await SqlStore.open(driver, migrations).catch(async (e: unknown) => {
      await driver.close();
      throw e;
    });
    t.after(() => store.close());
    return { store, driver };
  }
  const applied = async (d: SqlDriver) =>
    (await d.query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')).map((r) => [Number(r.version), r.name]);
  const tables = async (d: SqlDriver) =>
    (dialect === 'sqlite'
      ? await d.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      : await d.query("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    )
      .map((r) => r.name as string)
      .sort();

  describe(`migrations on ${dialect}`, () => {
    it('creates the schema on a fresh database and records each version once', async (t) => {
      const { driver } = await open(t, fresh());
      assert.deepEqual(await applied(driver), MIGRATIONS.map((m) => [m.version, m.name]));
      assert.deepEqual(await tables(driver), ['access_keys', 'events', 'idempotency', 'ip_allocations', 'ip_hints', 'nonces', 'read_nonces', 'resource_counts', 'resources', 'schema_migrations']);
    });

    it('applies only the new version on re-open, and nothing on the next', async (t) => {
      const url = fresh();
      const first = await open(t, url);
      await first.store.putAccessKey({ accessKeyId: 'LTAIkeep', accessKeySecret: 's', account: 'a' });
      // V2's CREATE TABLE would fail if it ran twice, so opening three times proves it ran once.
      const second = await open(t, url, [...MIGRATIONS, V2]);
      assert.deepEqual(await applied(second.driver), [...MIGRATIONS.map((m) => [m.version, m.name]), [NEXT, 'extra table']]);
      await second.driver.run('INSERT INTO extra (k, v) VALUES (?, ?)', ['k', 'v']);
      const third = await open(t, url, [...MIGRATIONS, V2]);
      assert.deepEqual((await applied(third.driver)).map((r) => r[0]), [...RELEASED, NEXT]);
      assert.deepEqual((await third.driver.query('SELECT k, v FROM extra')).map((r) => ({ ...r })), [{ k: 'k', v: 'v' }]);
      assert.ok(await third.store.getAccessKey('LTAIkeep'), 'earlier data survives');
      // A server that knows fewer versions than the database opens it without touching it.
      const older = await open(t, url);
      assert.deepEqual((await applied(older.driver)).map((r) => r[0]), [...RELEASED, NEXT]);
    });

    it('rolls a failing migration back entirely and leaves the database openable', async (t) => {
      const url = fresh();
      await open(t, url);
      const d = driverFor(url);
      await assert.rejects(SqlStore.open(d, [...MIGRATIONS, BROKEN_V2]), /no_such_table/);
      await d.close();
      const after = await open(t, url);
      assert.deepEqual((await applied(after.driver)).map((r) => r[0]), RELEASED, 'the failed version is not recorded');
      assert.ok(!(await tables(after.driver)).includes('extra'), 'its first statement was rolled back too');
      const fixed = await open(t, url, [...MIGRATIONS, V2]);
      assert.deepEqual((await applied(fixed.driver)).map((r) => r[0]), [...RELEASED, NEXT]);
    });

    if (dialect === 'postgres')
      it('lets several servers open one fresh database at the same moment', async (t) => {
        const url = fresh();
        const opened = await Promise.all(Array.from({ length: 6 }, () => open(t, url, [...MIGRATIONS, V2])));
        assert.deepEqual((await applied(opened[0].driver)).map((r) => r[0]), [...RELEASED, NEXT]);
        assert.equal(await opened[5].store.count({ kind: 'vpc' }), 0);
      });
  });
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'eci-migrate-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

suite('sqlite', () => join(dir, `m${++created}.db`), (url) => new SqliteDriver(url));

let pg: TestPostgres | undefined;
describe('PostgreSQL', () => {
  before(async () => {
    pg = await startPostgres();
  });
  after(() => pg?.stop());
  suite('postgres', () => pg!.createDatabase(`migrate${++created}`), (url) => new PostgresDriver(url));
});
