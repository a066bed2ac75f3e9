// The store's minimum: the least that a CreateContainerGroup or a DescribeContainerGroups must ask of
// its store, measured through the drivers the server uses, with nothing of the API around it. Set
// beside the HTTP floor, it says how much of the "3× the floor" budget any implementation keeping its
// state in that store has left for everything else (signature, parameters, validation, the answer).
//
// What a create must make durable, whatever the design, because the issue asks it to survive a kill -9:
// the group's row (the size of a real one), its private address (IPAM: never handed out twice) and
// its request's nonce (a replay after a restart is refused). Each is the cheapest form of that write:
// the nonce appended to a log (not a random key), the address at a counter, no events, no counts, no
// idempotency token, no lock. A describe must read the group's row by id.
//
// SQLite: node:sqlite on a file with the server's schema and pragmas; creates in commits of 32 (the
// server's group commit), without its per-member savepoints; CPU of this process.
// PostgreSQL: the server's own PostgresDriver (pipelined: BEGIN, the three INSERTs and COMMIT leave in
// one write), 32 transactions in flight; CPU of this process and of the cluster.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS } from '../src/store/migrations.ts';
import { PostgresDriver } from '../src/store/postgres.ts';

export interface StoreMinimum {
  /** Operations per second (one process, or CONCURRENCY in flight). */
  readonly perSecond: number;
  /** CPU (user + system) of the process driving the store, per operation, µs. */
  readonly clientCpuUs: number;
  /** CPU of the PostgreSQL cluster per operation, µs (SQLite runs inside the client). */
  readonly storeCpuUs: number;
}

/** Operations in flight on PostgreSQL, and creates per SQLite commit: the server's figures. */
const CONCURRENCY = 32;
/** A stored group's data is about this long (the bench's create, as JSON). */
const ROW_BYTES = 1500;

const INSERT_GROUP = `INSERT INTO resources (kind, id, account, region, name, status, parent, created_at, version, data)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`;
const INSERT_ADDRESS = 'INSERT INTO ip_allocations (scope, ip, owner) VALUES (?, ?, ?)';
const INSERT_NONCE = 'INSERT INTO read_nonces (nonce, expires_at) VALUES (?, ?)';
const SELECT_GROUP = 'SELECT * FROM resources WHERE id = ? AND kind = ?';

/** CPU seconds of a process and of each of its children (a PostgreSQL postmaster and its backends), by PID. */
export function treeCpuSeconds(rootPid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      if (pid === rootPid || Number(fields[1]) === rootPid) out.set(pid, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // gone between the listing and the read
    }
  }
  return out;
}

function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, cpu] of after) seconds += cpu - (before.get(pid) ?? 0);
  return seconds;
}

/** The three rows of one create, as parameters of INSERT_NONCE, INSERT_ADDRESS and INSERT_GROUP. */
function createRows(i: number, data: string): [unknown[], unknown[], unknown[]] {
  const id = `eci-floor${randomBytes(8).toString('hex')}`;
  return [
    [`floor/${randomBytes(16).toString('hex')}`, Math.floor(Date.now() / 1000) * 1000 + 900_000],
    ['vsw-floor', i, id],
    ['containerGroup', id, 'floor', 'cn-hangzhou', `floor-${i}`, 'Scheduling', 'vsw-floor', new Date().toISOString(), data],
  ];
}

const groupData = () => JSON.stringify({ spec: 'x'.repeat(ROW_BYTES - 11) });

/** SQLite: `creates` creates (after as many again to warm up), then `reads` describes of their rows. */
export function sqliteMinimum(creates: number, reads: number): { create: StoreMinimum; describe: StoreMinimum } {
  const dir = mkdtempSync(join(tmpdir(), 'eci-bench-sqlite-'));
  const db = new DatabaseSync(join(dir, 'floor.db'));
  try {
    // The pragmas of SqliteDriver.
    db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000; PRAGMA temp_store=MEMORY;');
    for (const m of MIGRATIONS) db.exec(m.sql('sqlite'));
    const [nonce, address, group, select, begin, commit] = [INSERT_NONCE, INSERT_ADDRESS, INSERT_GROUP, SELECT_GROUP, 'BEGIN IMMEDIATE', 'COMMIT'].map((s) => db.prepare(s));
    const data = groupData();
    const ids: string[] = [];
    let next = 0;
    const run = (n: number) => {
      for (let done = 0; done < n; ) {
        begin.run();
        for (let k = 0; k < CONCURRENCY && done < n; k++, done++) {
          const [a, b, c] = createRows(next++, data);
          nonce.run(...(a as never[]));
          address.run(...(b as never[]));
          group.run(...(c as never[]));
          ids.push(c[1] as string);
        }
        commit.run();
      }
    };
    const measure = (n: number, body: () => void): StoreMinimum => {
      const cpu = process.cpuUsage();
      const start = performance.now();
      body();
      const used = process.cpuUsage(cpu);
      const seconds = (performance.now() - start) / 1000;
      return { perSecond: Math.round(n / seconds), clientCpuUs: Math.round((used.user + used.system) / n), storeCpuUs: 0 };
    };
    run(creates);
    const create = measure(creates, () => run(creates));
    let found = 0;
    const describe = measure(reads, () => {
      for (let i = 0; i < reads; i++) found += select.all(ids[(i * 7919) % ids.length], 'containerGroup').length;
    });
    // The figures count only work that was done: every row written, every read finding its row.
    const stored = Number(db.prepare('SELECT COUNT(*) AS n FROM resources').get()!.n);
    if (stored !== 2 * creates || found !== reads) throw new Error(`store minimum (SQLite): ${stored} rows for ${2 * creates} creates, ${found} of ${reads} reads found`);
    return { create, describe };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * PostgreSQL, on a fresh database `url` of the cluster `clusterPid`: creates for `seconds`, then
 * describes for `seconds`, CONCURRENCY in flight, after a warm-up of a second each.
 */
export async function postgresMinimum(url: string, clusterPid: number, seconds: number): Promise<{ create: StoreMinimum; describe: StoreMinimum }> {
  const driver = new PostgresDriver(url);
  try {
    for (const m of MIGRATIONS) await driver.run(m.sql('postgres'));
    const data = groupData();
    const ids: string[] = [];
    let next = 0;
    const createOne = () =>
      driver.transaction(async (conn) => {
        const [a, b, c] = createRows(next++, data);
        conn.defer!(INSERT_NONCE, a);
        conn.defer!(INSERT_ADDRESS, b);
        conn.defer!(INSERT_GROUP, c);
        ids.push(c[1] as string);
      });
    let [reads, found] = [0, 0];
    const describeOne = async () => {
      reads++;
      const rows = await driver.query(SELECT_GROUP, [ids[(next++ * 7919) % ids.length], 'containerGroup']);
      found += rows.length;
    };
    const measure = async (op: () => Promise<unknown>): Promise<StoreMinimum> => {
      const loop = async (until: number, count: { n: number }) => {
        while (performance.now() < until) {
          await op();
          count.n++;
        }
      };
      const flight = (ms: number, count: { n: number }) => Promise.all(Array.from({ length: CONCURRENCY }, () => loop(performance.now() + ms, count)));
      await flight(1000, { n: 0 });
      const count = { n: 0 };
      const cluster = treeCpuSeconds(clusterPid);
      const cpu = process.cpuUsage();
      const start = performance.now();
      await flight(seconds * 1000, count);
      const used = process.cpuUsage(cpu);
      const elapsed = (performance.now() - start) / 1000;
      return {
        perSecond: Math.round(count.n / elapsed),
        clientCpuUs: Math.round((used.user + used.system) / count.n),
        storeCpuUs: Math.round((cpuSince(cluster, treeCpuSeconds(clusterPid)) * 1e6) / count.n),
      };
    };
    const create = await measure(createOne);
    const describe = await measure(describeOne);
    // The figures count only work that was done: every create's rows stored, every read finding its row.
    const stored = Number((await driver.query('SELECT COUNT(*) AS n FROM resources'))[0].n);
    if (stored !== ids.length || found !== reads) throw new Error(`store minimum (PostgreSQL): ${stored} rows for ${ids.length} creates, ${found} of ${reads} reads found`);
    return { create, describe };
  } finally {
    await driver.close();
  }
}
