// The control-plane benchmark (`npm run bench`, or `node bench/run.ts [--quick]`).
//
// It measures, on this machine, requests per second of:
//   (a) the floor: a bare node:http server answering a fixed small JSON (bench/floor-server.ts);
//   (b) DescribeContainerGroups and (c) CreateContainerGroup through the whole API pipeline of a real
//       `eci server` process (signature verification, nonce, parameters, store transaction), on SQLite
//       and on PostgreSQL (a throw-away cluster from test/helpers/postgres.ts);
// each with the same load generator (bench/load.ts, its own process, pre-signed requests with unique
// nonces, keep-alive connections), and reports each rate side by side with the floor and the ratio.
// Targets: Describe ≥ 5,000/s, Create ≥ 1,000/s, both within 3× of the floor.
//
// The server runs with --workers N and each of its rates is set against the floor served by as many
// processes, measured right before the scenario (this machine's speed drifts by up to ~1.5× within
// an hour: a floor measured once at the start misjudged the later scenarios). By default SQLite gets one worker per core (its Describe gains from a second process)
// and PostgreSQL one (on this 2-core machine PostgreSQL needs the other core: a second server process
// measured slower on every PostgreSQL scenario). Every process shares the machine's cores: the load generator's, the
// server's and PostgreSQL's CPU per request are reported beside each rate, so that a rate can be read
// as what those costs allow (cores / sum of the three).
//
// Beside each target scenario it prints what the target leaves: the CPU per request that 3× the floor
// allows on these cores, less what any implementation pays before its own work: the bare HTTP exchange
// (the floor's server and load generator) and the least it must ask of its store (the store's
// minimum, bench/store-minimum.ts, measured in the same run). When nothing is left, the target is out
// of reach of any server keeping its state in that store on this machine.
//
// CreateContainerGroup is measured for one account (every create of an account takes that account's
// lock, so they run one at a time on PostgreSQL) and, on PostgreSQL, spread over MULTI_ACCOUNTS
// accounts (creates of different accounts run in parallel), to show that serialisation.
//
// Options: --quick (a short smoke run), --stores sqlite,postgres, --connections N, --workers N or
// sqlite=N,postgres=M (the server's processes per store), --profile (run the
// server under --cpu-prof and print where its time goes), --scenarios d1,d2,c1,c8 (Describe by id,
// Describe a page, Create for 1 account, Create over several accounts), --pg-statements (load
// pg_stat_statements into the PostgreSQL cluster and print, per scenario, the statements its time went
// to), --out FILE (default bench/results.json).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import postgresDriver from 'pg';
import { pgBin, startPostgres, type TestPostgres } from '../test/helpers/postgres.ts';
import { startServer, type TestKey, type TestServer } from '../test/helpers/server.ts';
import { closeConnections, send, signV3 } from '../test/helpers/sign.ts';
import type { LoadConfig, LoadResult, SignedSource } from './load.ts';
import { postgresMinimum, sqliteMinimum, type StoreMinimum, treeCpuSeconds } from './store-minimum.ts';

const ROOT = resolve(import.meta.dirname, '..');
const REGION = 'cn-hangzhou';
const ECI = '2018-08-08';
const VPC = '2016-04-28';
const ECS = '2014-05-26';

const TARGETS = {
  describe: { minRps: 5000, maxFloorRatio: 3 },
  create: { minRps: 1000, maxFloorRatio: 3 },
} as const;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    stores: { type: 'string', default: 'sqlite,postgres' },
    connections: { type: 'string', default: '32' },
    workers: { type: 'string', default: `sqlite=${cpus().length},postgres=1` },
    profile: { type: 'boolean', default: false },
    scenarios: { type: 'string', default: 'd1,d2,c1,c8' },
    'pg-statements': { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench/results.json') },
  },
});

const QUICK = opts.quick!;
const CONNECTIONS = Number(opts.connections);
/** Processes of the API server (eci server --workers) per store; the floor is measured with each count. */
const WORKERS: Record<'sqlite' | 'postgres', number> = (() => {
  const text = opts.workers!;
  if (/^\d+$/.test(text)) return { sqlite: Number(text), postgres: Number(text) };
  const out = { sqlite: 1, postgres: 1 };
  for (const part of text.split(',')) {
    const m = /^(sqlite|postgres)=(\d+)$/.exec(part.trim());
    if (!m) throw new Error(`--workers: expected N or sqlite=N,postgres=M, not "${text}"`);
    out[m[1] as 'sqlite' | 'postgres'] = Number(m[2]);
  }
  return out;
})();
/** Measured requests per scenario (each also gets a warm-up of a fifth of that, at least 500). */
const SIZE = QUICK
  ? { floor: 10_000, describe: 5_000, describePage: 2_000, create: 2_000, seedGroups: 40 }
  : { floor: 100_000, describe: 50_000, describePage: 10_000, create: 20_000, seedGroups: 100 };
/** No measured run lasts longer than this; a slower server is measured over what it answered. */
const MAX_SECONDS = QUICK ? 15 : 60;
/** Accounts of the multi-account CreateContainerGroup run (PostgreSQL). */
const MULTI_ACCOUNTS = 8;
const warmupFor = (n: number) => Math.max(500, Math.floor(n / 5));
const SCENARIOS = new Set(opts.scenarios!.split(',').map((s) => s.trim()));

interface Measured extends LoadResult {
  /**
   * CPU time (user + system) the server process spent per measured request, in µs: what a request
   * costs, however busy the machine is with other work (rates on a shared 2-core machine vary).
   * PostgreSQL's own processes are not included.
   */
  readonly serverCpuUsPerRequest: number | null;
  /** CPU time of the PostgreSQL cluster (postmaster and backends) per measured request, in µs. */
  readonly storeCpuUsPerRequest: number | null;
}

interface Row {
  readonly scenario: string;
  readonly store: string;
  readonly result: Measured;
  /** The floor served by as many processes, measured right before the scenario. */
  readonly floor: Measured;
  readonly target?: keyof typeof TARGETS;
}

// ---------------------------------------------------------------------------------------------------

/**
 * Runs the load generator against a server whose process is `serverPid` (and whose store is the
 * PostgreSQL cluster `storePid`), measuring their CPU too.
 */
async function runLoad(config: LoadConfig, serverPid: number | undefined, storePid?: number): Promise<Measured> {
  // The processes' CPU over warm-up and measured requests alike, divided by both: the server's with
  // its worker processes, the cluster's postmaster with its backends. A process that starts during
  // the run counts from zero; one that ends during it is lost (the pools keep theirs).
  const tree = (pid: number | undefined) => (pid === undefined ? undefined : treeCpuSeconds(pid));
  const before = [tree(serverPid), tree(storePid)];
  const result = await spawnLoad({ maxSeconds: MAX_SECONDS, ...config });
  const after = [tree(serverPid), tree(storePid)];
  const total = config.warmup + result.requests;
  const perRequest = (b: Map<number, number> | undefined, a: Map<number, number> | undefined) => {
    if (!b || !a) return null;
    let seconds = 0;
    for (const [pid, cpu] of a) seconds += cpu - (b.get(pid) ?? 0);
    return Math.round((seconds * 1e6) / total);
  };
  return { ...result, serverCpuUsPerRequest: perRequest(before[0], after[0]), storeCpuUsPerRequest: perRequest(before[1], after[1]) };
}

function spawnLoad(config: LoadConfig): Promise<LoadResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(ROOT, 'bench/load.ts'), JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolvePromise(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
    });
  });
}

async function measureFloor(workers: number): Promise<Measured> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(ROOT, 'bench/floor-server.ts'), '--workers', String(workers)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoint = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on ([\d.]+:\d+)/.exec(out);
      if (m) res(m[1]);
    });
    child.once('exit', (code) => rej(new Error(`floor server exited with ${code}`)));
  });
  try {
    // The same shape of request as the API scenarios: a POST with a query string, as the SDK sends.
    const request = signV3({ accessKeyId: 'floor', accessKeySecret: 'floor' }, { action: 'DescribeContainerGroups', version: ECI, params: { RegionId: REGION }, host: endpoint });
    return await runLoad({ endpoint, connections: CONNECTIONS, warmup: warmupFor(SIZE.floor), requests: SIZE.floor, source: { kind: 'fixed', request } }, child.pid);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

/** One signed V3 call; throws on an error answer. */
async function call(server: TestServer, key: TestKey, version: string, action: string, params: Record<string, string>): Promise<any> {
  const r = await send(server.endpoint, signV3(key, { action, version, params: { RegionId: REGION, ...params }, host: server.endpoint }));
  if (r.status !== 200) throw new Error(`${action}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

/** The parameters of a realistic CreateContainerGroup, as the SDK sends them (cf. reference §5). */
function createParams(vSwitch: string, securityGroupId: string, name: string, token: string): Record<string, string> {
  return {
    ContainerGroupName: name,
    VSwitchId: vSwitch,
    SecurityGroupId: securityGroupId,
    ZoneId: 'cn-hangzhou-h',
    Cpu: '1',
    Memory: '2',
    RestartPolicy: 'Always',
    ClientToken: token,
    'Container.1.Name': 'nginx',
    'Container.1.Image': 'nginx:1.25',
    'Container.1.Cpu': '0.5',
    'Container.1.Memory': '1',
    'Container.1.Command.1': '/bin/sh',
    'Container.1.Command.2': '-c',
    'Container.1.Arg.1': 'echo hi & sleep 3600',
    'Container.1.Port.1.Port': '80',
    'Container.1.Port.1.Protocol': 'TCP',
    'Container.1.EnvironmentVar.1.Key': 'A',
    'Container.1.EnvironmentVar.1.Value': "x y!*'()",
    'Container.1.ReadinessProbe.HttpGet.Path': '/',
    'Container.1.ReadinessProbe.HttpGet.Port': '80',
    'Container.1.ReadinessProbe.PeriodSeconds': '5',
    'Tag.1.Key': 'env',
    'Tag.1.Value': 'bench',
  };
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function of a .cpuprofile, largest first. */
function summariseProfile(path: string, top = 25): string[] {
  const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(`file://${ROOT}/`, '')}:${f.lineNumber + 1}` : '';
    const k = `${f.functionName || '(anonymous)'} ${where}`.trim();
    const dt = p.timeDeltas[i] ?? 0;
    self.set(k, (self.get(k) ?? 0) + dt);
    total += dt;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
}

/**
 * What PostgreSQL alone does on this machine: pgbench (Debian's, from the same package) running the
 * smallest write a create could be, one autocommitted INSERT of a row the size of a container
 * group's, prepared, from CONNECTIONS clients, with PostgreSQL's CPU per transaction measured the
 * way the scenarios measure it. A create writes more than this (the group, its events, its count,
 * its address, its token, its nonce), so this bounds from above the creates/s any server could get
 * from PostgreSQL here.
 */
interface StoreFloor {
  readonly tps: number;
  readonly storeCpuUsPerTransaction: number;
}

async function measurePgWriteFloor(pg: TestPostgres, url: string, db: string): Promise<StoreFloor> {
  const client = new postgresDriver.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE TABLE bench_floor_rows (id BIGSERIAL PRIMARY KEY, data TEXT NOT NULL)');
  await client.end();
  const dir = mkdtempSync(join(tmpdir(), 'eci-pgbench-'));
  const script = join(dir, 'insert.sql');
  writeFileSync(script, "INSERT INTO bench_floor_rows (data) VALUES (repeat('x', 1500));\n");
  const seconds = QUICK ? 3 : 10;
  const before = treeCpuSeconds(pg.pid);
  const r = spawnSync(
    join(pgBin(), 'pgbench'),
    ['-n', '-M', 'prepared', '-c', String(CONNECTIONS), '-j', '1', '-T', String(seconds), '-f', script, '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', db],
    { encoding: 'utf8' },
  );
  const after = treeCpuSeconds(pg.pid);
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`pgbench failed: ${r.stderr}`);
  const processed = Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1]);
  const tps = Math.round(Number(/tps = ([\d.]+)/.exec(r.stdout)?.[1]));
  let storeSeconds = 0;
  for (const [pid, cpu] of after) storeSeconds += cpu - (before.get(pid) ?? 0);
  return { tps, storeCpuUsPerTransaction: Math.round((storeSeconds * 1e6) / processed) };
}

/** The statements PostgreSQL spent its time on since the last reset, per request of the scenario. */
async function printStatements(client: postgresDriver.Client, runId: string, requests: number): Promise<void> {
  const { rows } = await client.query(
    `SELECT calls, total_exec_time + total_plan_time AS ms, shared_blks_hit + shared_blks_read AS blocks, wal_bytes, query FROM pg_stat_statements
      WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY ms DESC LIMIT 20`,
  );
  console.log(`pg_stat_statements, ${runId}: per request: calls, µs (execution + planning, waits included), buffers, WAL bytes; statement`);
  const per = (v: unknown, digits: number) => (Number(v) / requests).toFixed(digits);
  for (const r of rows)
    console.log(`  ${per(r.calls, 2).padStart(6)} ${per(Number(r.ms) * 1000, 1).padStart(7)} ${per(r.blocks, 1).padStart(7)} ${per(r.wal_bytes, 0).padStart(6)}  ${String(r.query).replace(/\s+/g, ' ').slice(0, 150)}`);
}

interface StoreMinimums {
  readonly create: StoreMinimum;
  readonly describe: StoreMinimum;
}

async function measureStore(store: 'sqlite' | 'postgres', profileDir: string | undefined): Promise<{ rows: Row[]; profile?: string[]; writeFloor?: StoreFloor; minimum: StoreMinimums }> {
  let pg: TestPostgres | undefined;
  let storeUrl: string | undefined;
  let statements: postgresDriver.Client | undefined;
  if (store === 'postgres') {
    pg = await startPostgres(opts['pg-statements'] ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {});
    storeUrl = pg.createDatabase('bench');
    if (opts['pg-statements']) {
      statements = new postgresDriver.Client({ connectionString: storeUrl });
      await statements.connect();
      await statements.query('CREATE EXTENSION pg_stat_statements');
    }
  }
  // Before the server starts, so that nothing else runs beside them.
  const writeFloor = pg && storeUrl ? await measurePgWriteFloor(pg, storeUrl, 'bench') : undefined;
  const minimum =
    pg && storeUrl ? await postgresMinimum(pg.createDatabase('minimum'), pg.pid, QUICK ? 2 : 5) : sqliteMinimum(SIZE.create, SIZE.describe);
  const env: Record<string, string> = profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${join(profileDir, store)}` } : {};
  const server = await startServer({
    storeUrl,
    config: { quotas: { containerGroups: 10_000_000, vpcs: 100, vSwitchesPerVpc: 1000, securityGroups: 1000 } },
    env,
    workers: WORKERS[store],
  });
  const rows: Row[] = [];
  try {
    const key = server.key('bench');
    const vpc = await call(server, key, VPC, 'CreateVpc', { CidrBlock: '10.0.0.0/8', VpcName: 'bench' });
    // Enough addresses for every create (a /16 holds 65,532 instances); several spread the IPAM rows.
    const vSwitches: string[] = [];
    for (let i = 1; i <= 4; i++)
      vSwitches.push((await call(server, key, VPC, 'CreateVSwitch', { VpcId: vpc.VpcId, ZoneId: 'cn-hangzhou-h', CidrBlock: `10.${i}.0.0/16` })).VSwitchId);
    const sg = (await call(server, key, ECS, 'CreateSecurityGroup', { VpcId: vpc.VpcId, SecurityGroupName: 'bench' })).SecurityGroupId as string;
    const ids: string[] = [];
    for (let i = 0; i < SIZE.seedGroups; i++)
      ids.push((await call(server, key, ECI, 'CreateContainerGroup', createParams(vSwitches[i % vSwitches.length], sg, `seed-${i}`, `seed-${i}`))).ContainerGroupId);

    const signed = (action: string, params: Record<string, string>, rotate?: Record<string, string[]>): SignedSource => ({
      kind: 'signed', key, signature: 'v3', action, version: ECI, params: { RegionId: REGION, ...params }, rotate,
    });
    // Each scenario is measured right after its own floor: this machine's speed drifts within a run.
    const load = async (source: SignedSource, requests: number, runId: string): Promise<{ floor: Measured; result: Measured }> => {
      const floor = await measureFloor(WORKERS[store]);
      await statements?.query('SELECT pg_stat_statements_reset()');
      const result = await runLoad({ endpoint: server.endpoint, connections: CONNECTIONS, warmup: warmupFor(requests), requests, source, runId }, server.process.pid, pg?.pid);
      if (statements) await printStatements(statements, runId, result.requests + warmupFor(requests));
      return { floor, result };
    };

    if (SCENARIOS.has('d1'))
      rows.push({
        scenario: 'DescribeContainerGroups, one by id',
        store,
        target: 'describe',
        ...(await load(signed('DescribeContainerGroups', { ContainerGroupIds: '["{rotate:ids}"]' }, { ids }), SIZE.describe, 'd1')),
      });
    if (SCENARIOS.has('d2'))
      rows.push({
        scenario: 'DescribeContainerGroups, page of 20',
        store,
        ...(await load(signed('DescribeContainerGroups', { Limit: '20' }), SIZE.describePage, 'd2')),
      });
    if (SCENARIOS.has('c1'))
      rows.push({
        scenario: 'CreateContainerGroup, 1 account',
        store,
        target: 'create',
        ...(await load(signed('CreateContainerGroup', createParams('{rotate:vsw}', sg, 'bench-{i}', 'bench-{run}-{i}'), { vsw: vSwitches }), SIZE.create, 'c1')),
      });
    if (store === 'postgres' && SCENARIOS.has('c8')) {
      const accounts = [];
      for (let a = 0; a < MULTI_ACCOUNTS; a++) {
        const k = server.key(`bench-${a}`);
        const v = await call(server, k, VPC, 'CreateVpc', { CidrBlock: '10.0.0.0/8', VpcName: 'bench' });
        const vsw = (await call(server, k, VPC, 'CreateVSwitch', { VpcId: v.VpcId, ZoneId: 'cn-hangzhou-h', CidrBlock: '10.1.0.0/16' })).VSwitchId as string;
        const group = (await call(server, k, ECS, 'CreateSecurityGroup', { VpcId: v.VpcId, SecurityGroupName: 'bench' })).SecurityGroupId as string;
        accounts.push({ key: k, rotate: { vsw: [vsw], sg: [group] } });
      }
      rows.push({
        scenario: `CreateContainerGroup, ${MULTI_ACCOUNTS} accounts`,
        store,
        ...(await load({ ...signed('CreateContainerGroup', createParams('{rotate:vsw}', '{rotate:sg}', 'bench-{i}', 'bench-{run}-{i}')), accounts }, SIZE.create, 'c8')),
      });
    }
  } finally {
    await statements?.end();
    closeConnections();
    await server.close();
    pg?.stop();
  }
  if (!profileDir) return { rows, writeFloor, minimum };
  const dir = join(profileDir, store);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  return { rows, writeFloor, minimum, profile: file ? [`profile: ${join(dir, file)}`, ...summariseProfile(join(dir, file))] : ['(no profile written)'] };
}

// ---------------------------------------------------------------------------------------------------

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

async function main(): Promise<void> {
  const stores = opts.stores!.split(',').map((s) => s.trim()).filter(Boolean) as ('sqlite' | 'postgres')[];
  const profileDir = opts.profile ? mkdtempSync(join(tmpdir(), 'eci-bench-prof-')) : undefined;
  console.log(`OpenECI bench${QUICK ? ' (quick)' : ''}: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${CONNECTIONS} connections, server processes: ${stores.map((st) => `${st} ${WORKERS[st]}`).join(', ')}`);

  const rows: Row[] = [];
  const skipped: Record<string, string> = {};
  const profiles: Record<string, string[]> = {};
  let pgWriteFloor: StoreFloor | undefined;
  const minimums: Partial<Record<'sqlite' | 'postgres', StoreMinimums>> = {};
  for (const store of stores) {
    try {
      const r = await measureStore(store, profileDir);
      pgWriteFloor ??= r.writeFloor;
      minimums[store] = r.minimum;
      rows.push(...r.rows);
      if (r.profile) profiles[store] = r.profile;
      for (const row of r.rows) console.log(`${store}: ${row.scenario}: ${row.result.rps} req/s (floor just before: ${row.floor.rps} req/s)`);
    } catch (e) {
      skipped[store] = e instanceof Error ? e.message : String(e);
      console.error(`${store}: skipped: ${skipped[store]}`);
    }
  }

  const verdicts = rows.map((row) => {
    const ratio = row.floor.rps / row.result.rps;
    const errors = row.result.requests - (row.result.statuses['200'] ?? 0) + row.result.successWithCode;
    const t = row.target ? TARGETS[row.target] : undefined;
    const pass = t ? row.result.rps >= t.minRps && ratio <= t.maxFloorRatio && errors === 0 : undefined;
    return { ...row, ratio, errors, pass };
  });

  const cpuCells = (r: Measured) => [
    pad(String(r.serverCpuUsPerRequest ?? '?'), 7, true),
    pad(String(r.storeCpuUsPerRequest ?? '-'), 6, true),
    pad(String(r.loadCpuUsPerRequest), 6, true),
  ];
  const header = [pad('scenario', 38), pad('store', 9), pad('procs', 5, true), pad('req/s', 8, true), pad('floor', 8, true), pad('floor/x', 8, true), pad('p50 ms', 8, true), pad('p99 ms', 8, true), pad('errors', 7, true), pad('server', 7, true), pad('pg', 6, true), pad('load', 6, true), '  target'];
  const line = '-'.repeat(header.join(' ').length + 16);
  console.log('server / pg / load: CPU µs per request of the server process, of the PostgreSQL cluster and of the load generator (user + system)');
  console.log('floor: node:http answering a fixed JSON from as many processes, measured right before each scenario (its row below it)');
  console.log('\n' + header.join(' ') + '\n' + line);
  for (const v of verdicts) {
    const t = v.target ? TARGETS[v.target] : undefined;
    const target = t ? `  ≥${t.minRps}/s, ≤${t.maxFloorRatio}× floor: ${v.pass ? 'PASS' : 'MISS'}` : '  (informational)';
    console.log([pad(v.scenario, 38), pad(v.store, 9), pad(String(WORKERS[v.store as 'sqlite' | 'postgres']), 5, true), pad(String(v.result.rps), 8, true), pad(String(v.floor.rps), 8, true), pad(v.ratio.toFixed(2), 8, true), pad(String(v.result.p50ms), 8, true), pad(String(v.result.p99ms), 8, true), pad(String(v.errors), 7, true), ...cpuCells(v.result)].join(' ') + target);
    console.log([pad('  floor', 38), pad('-', 9), pad(String(WORKERS[v.store as 'sqlite' | 'postgres']), 5, true), pad(String(v.floor.rps), 8, true), pad('', 8, true), pad('1.00', 8, true), pad(String(v.floor.p50ms), 8, true), pad(String(v.floor.p99ms), 8, true), pad('0', 7, true), ...cpuCells(v.floor)].join(' '));
    for (const s of v.result.sampleErrors) console.log(`    error sample: ${s}`);
  }
  for (const [store, why] of Object.entries(skipped)) console.log(`${store}: skipped (${why})`);
  // What "within 3× of the floor" leaves per request: every process here shares the same cores.
  console.log('');
  const budgets = verdicts
    .filter((x) => x.target)
    .map((v) => {
      const needed = v.floor.rps / TARGETS[v.target!].maxFloorRatio;
      const budgetUs = Math.round((cpus().length * 1e6) / needed);
      const usedUs = (v.result.serverCpuUsPerRequest ?? 0) + (v.result.storeCpuUsPerRequest ?? 0) + v.result.loadCpuUsPerRequest;
      // What any implementation pays before its own work: the bare HTTP exchange (the floor's server
      // and load generator) and the least it must ask of its store (store-minimum.ts).
      const minimum = minimums[v.store as 'sqlite' | 'postgres']?.[v.target!];
      const httpUs = (v.floor.serverCpuUsPerRequest ?? 0) + v.floor.loadCpuUsPerRequest;
      const storeUs = minimum ? minimum.clientCpuUs + minimum.storeCpuUs : 0;
      const leftUs = budgetUs - httpUs - storeUs;
      console.log(
        `${v.scenario} on ${v.store}: 3× its floor is ${Math.round(needed)} req/s, on ${cpus().length} cores ${budgetUs} µs of CPU per request for everything (server + PostgreSQL + load generator); it used ${usedUs}.` +
          (minimum
            ? `\n  Unavoidable: the bare HTTP exchange ${httpUs} µs (floor server ${v.floor.serverCpuUsPerRequest} + load ${v.floor.loadCpuUsPerRequest}) + the store's minimum ${storeUs} µs` +
              ` (${minimum.clientCpuUs} in the client${v.store === 'postgres' ? ` + ${minimum.storeCpuUs} in PostgreSQL` : ''}) = ${httpUs + storeUs} µs,` +
              ` leaving ${leftUs} µs for the API's own work: signature, parameters, validation, the rest of the transaction and the answer (this server's: ${usedUs - httpUs - storeUs} µs).` +
              (leftUs <= 0 ? ' Nothing keeping its state in this store can reach 3× of this floor on this machine.' : '')
            : ''),
      );
      return { scenario: v.scenario, store: v.store, budgetUs, usedUs, httpUs, storeMinimumUs: storeUs, leftUs };
    });
  for (const [store, m] of Object.entries(minimums))
    console.log(
      `The store's minimum on ${store} (bench/store-minimum.ts; a create's three durable rows, a describe's read of one row by id): ` +
        `create ${m.create.perSecond}/s, ${m.create.clientCpuUs} µs client${store === 'postgres' ? ` + ${m.create.storeCpuUs} µs PostgreSQL` : ''}; ` +
        `describe ${m.describe.perSecond}/s, ${m.describe.clientCpuUs} µs client${store === 'postgres' ? ` + ${m.describe.storeCpuUs} µs PostgreSQL` : ''}.`,
    );
  if (pgWriteFloor)
    console.log(`PostgreSQL alone (pgbench, one prepared autocommitted INSERT of a 1.5 kB row, ${CONNECTIONS} clients): ${pgWriteFloor.tps} tx/s, ${pgWriteFloor.storeCpuUsPerTransaction} µs of PostgreSQL's CPU per transaction.`);
  for (const [store, lines] of Object.entries(profiles)) console.log(`\nCPU profile of eci server (${store}), self time:\n  ${lines.join('\n  ')}`);

  const results = {
    date: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', node: process.version },
    connections: CONNECTIONS,
    workers: WORKERS,
    targets: TARGETS,
    pgWriteFloor: pgWriteFloor ?? null,
    storeMinimums: minimums,
    budgets,
    scenarios: verdicts.map((v) => ({ scenario: v.scenario, store: v.store, workers: WORKERS[v.store as 'sqlite' | 'postgres'], target: v.target ?? null, pass: v.pass ?? null, floor: v.floor, floorRatio: Math.round(v.ratio * 100) / 100, errors: v.errors, ...v.result })),
    skipped,
    profiles,
  };
  writeFileSync(opts.out!, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nwrote ${opts.out}`);
  const missed = verdicts.filter((v) => v.pass === false);
  if (missed.length) {
    console.log(`targets missed: ${missed.map((v) => `${v.scenario} on ${v.store}`).join('; ')}`);
    process.exitCode = 1;
  }
}

await main();
