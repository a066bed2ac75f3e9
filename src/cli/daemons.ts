// `eci server`, `eci dev` and `eci keys`: the long-running processes and store administration.

import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG, type ServerConfig } from '../core/config.ts';
import { createAccessKey } from '../controllers/seed.ts';
import { openStore } from '../store/sql-store.ts';
import { startServer } from '../cmd/server.ts';
import { startHostAgent, type HostAgent } from '../cmd/agent.ts';
import { describePreflight, preflight } from '../agent/preflight.ts';
import { DEFAULT_STATE_DIR, type DevFile } from './config.ts';
import { CliError, EXIT_USAGE } from './errors.ts';

export const DAEMON_HELP = `  eci dev [--port N] [--state-dir DIR] [--config FILE]
                       run OpenECI all-in-one in the foreground (SQLite in DIR, default ./.eci; --port 0
                       picks a free port); writes DIR/dev.json with the endpoint and a key, which eci reads.
                       As root it also runs a host agent inside a network namespace of its own
                       (eci-host-<id>, named in dev.json as hostNetns), removed with every container on exit
  eci agent [--store URL] [--state-dir DIR] [--region R] [--zone Z] [--cpu N] [--memory GiB]
            [--host-netns NAME | --sandbox-host] [--image-budget GiB]
                       run the host agent: registers this host and runs the container groups placed on it;
                       --host-netns puts its kernel objects in that namespace (created if missing) instead
                       of the machine's own; --sandbox-host in eci-host-<host id>, as eci dev does;
                       images live in DIR/agent/image-store, collected down to --image-budget (default 20)
  eci server [--port N] [--host H] [--store URL] [--state-dir DIR] [--config FILE] [--workers N]
                       run the API server; URL is a SQLite file path (default DIR/eci.db) or postgres://…;
                       --workers N serves the API from N processes on the one port (default 1; one per
                       core uses the machine: a Node process runs its JavaScript on one core)
  eci keys create --account NAME [--store URL | --state-dir DIR] [--json]
                       create an access key pair for an account (prints it once)
  eci keys ls [--store URL | --state-dir DIR] [--json]
                       list access key ids and their accounts`;

function serverConfig(env: NodeJS.ProcessEnv, file?: string): ServerConfig {
  const path = file ?? env.ECI_CONFIG;
  const fromFile = path ? (JSON.parse(readFileSync(path, 'utf8')) as Partial<ServerConfig>) : {};
  return Object.freeze({
    ...DEFAULT_CONFIG,
    ...fromFile,
    quotas: Object.freeze({ ...DEFAULT_CONFIG.quotas, ...fromFile.quotas }),
    debug: env.ECI_DEBUG === '1' || (fromFile.debug ?? DEFAULT_CONFIG.debug),
  });
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      stop().then(() => process.exit(0), () => process.exit(1));
    });
}

export async function runServer(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: env.ECI_PORT ?? '8880' },
      host: { type: 'string', default: '127.0.0.1' },
      store: { type: 'string', default: env.ECI_STORE },
      'state-dir': { type: 'string', default: env.ECI_STATE_DIR ?? DEFAULT_STATE_DIR },
      config: { type: 'string' },
      workers: { type: 'string', default: env.ECI_WORKERS ?? '1' },
    },
  });
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new CliError(`--workers must be a whole number from 1 to 64, not "${values.workers}"`, EXIT_USAGE);
  const stateDir = resolve(values['state-dir']!);
  mkdirSync(stateDir, { recursive: true });
  const storeUrl = values.store ?? join(stateDir, 'eci.db');
  const server = await startServer({ storeUrl, port: Number(values.port), host: values.host, config: serverConfig(env, values.config), workers });
  const served = workers > 1 ? `, ${workers} processes: ${[process.pid, ...server.workerPids()].join(', ')}` : '';
  console.log(`eci server listening on ${values.host}:${server.port} (store: ${storeUrl.replace(/\/\/[^@]*@/, '//…@')}${served})`);
  onSignals(() => server.close());
  return new Promise<number>(() => undefined);
}

export async function runDev(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: env.ECI_PORT ?? '8880' },
      'state-dir': { type: 'string', default: env.ECI_STATE_DIR ?? DEFAULT_STATE_DIR },
      config: { type: 'string' },
    },
  });
  const stateDir = resolve(values['state-dir']!);
  mkdirSync(stateDir, { recursive: true });
  const config = serverConfig(env, values.config);
  const server = await startServer({ storeUrl: join(stateDir, 'eci.db'), port: Number(values.port), config });
  const devPath = join(stateDir, 'dev.json');
  let dev: DevFile | undefined = existsSync(devPath) ? (JSON.parse(readFileSync(devPath, 'utf8')) as DevFile) : undefined;
  const known = dev && (await server.store.getAccessKey(dev.accessKeyId));
  const key = known ?? (await createAccessKey(server.store, 'dev'));
  // The agent runs only where it can: without root (or a tool) the API still serves, and says why.
  const check = await preflight();
  let agent: HostAgent | undefined;
  let agentNote = '';
  if (check.ok) {
    try {
      const region = config.regions[0];
      agent = await startHostAgent({
        store: server.store,
        stateDir: join(stateDir, 'agent'),
        regionId: region.regionId,
        zoneId: region.zones[0],
        // A dev sandbox offers more than the machine has: the limits are cgroup caps, not reservations.
        cpu: Math.max(cpus().length, 32),
        memory: Math.max(Math.floor(totalmem() / 2 ** 30), 128),
        hostNetns: 'own',
      });
      agentNote = `Host agent ${agent.hostId} runs instances inside network namespace ${agent.hostNetns} (zone ${region.zones[0]}).`;
    } catch (e) {
      agentNote = `The host agent did not start (${e instanceof Error ? e.message : String(e)}); running the API only.`;
    }
  } else agentNote = `${describePreflight(check)}\nRunning the API only: container groups stay Scheduling.`;
  dev = {
    endpoint: `127.0.0.1:${server.port}`,
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    regionId: config.regions[0].regionId,
    ...(agent?.hostNetns ? { hostNetns: agent.hostNetns } : {}),
  };
  writeFileSync(devPath, JSON.stringify(dev, null, 2) + '\n', { mode: 0o600 });
  // The CLI finds ./.eci by itself; any other state dir must be named to it.
  const hint = stateDir === resolve(DEFAULT_STATE_DIR) ? '' : ` --state-dir ${stateDir}`;
  console.log(`eci dev listening on ${dev.endpoint} (pid ${process.pid}, state: ${stateDir})
OpenECI dev is up on http://${dev.endpoint} (region ${dev.regionId}).
Credentials are in ${devPath}; the eci CLI picks them up from there${hint ? ` with ${hint.trim()} (or ECI_STATE_DIR)` : ''}.

Try:
  npx eci${hint} eci DescribeRegions
  npx eci${hint} vpc ls
  npx eci${hint} eip alloc --bandwidth 5
  npx eci${hint} run web --image nginx:alpine --port 80 --eip
  npx eci${hint} ps

Or point an official SDK at endpoint "${dev.endpoint}" with protocol "http" and the keys above.
${agentNote}
Stop with Ctrl-C.`);
  onSignals(async () => {
    // Containers and namespaces of the dev host go with it; the store (and so the groups' rows) stays.
    if (agent) await agent.destroy().catch((e: unknown) => console.error(`eci dev: cleanup failed: ${e instanceof Error ? e.message : String(e)}`));
    await server.close();
  });
  return new Promise<number>(() => undefined);
}

export async function runAgent(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      store: { type: 'string', default: env.ECI_STORE },
      'state-dir': { type: 'string', default: env.ECI_STATE_DIR ?? DEFAULT_STATE_DIR },
      region: { type: 'string', default: DEFAULT_CONFIG.regions[0].regionId },
      zone: { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      'host-netns': { type: 'string' },
      'sandbox-host': { type: 'boolean', default: false },
      'api-port': { type: 'string', default: '0' },
      'image-budget': { type: 'string' },
    },
  });
  const stateDir = resolve(values['state-dir']!);
  mkdirSync(stateDir, { recursive: true });
  const check = await preflight();
  if (!check.ok) throw new Error(describePreflight(check));
  const region = DEFAULT_CONFIG.regions.find((r) => r.regionId === values.region);
  const zoneId = values.zone ?? region?.zones[0];
  if (!zoneId) throw new Error(`eci agent: --zone is required for region ${values.region}`);
  const num = (v: string | undefined, name: string, dflt: number) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`eci agent: --${name} must be a positive number, got "${v}"`);
    return n;
  };
  const storeUrl = values.store ?? join(stateDir, 'eci.db');
  const store = await openStore(storeUrl);
  const agent = await startHostAgent({
    store,
    stateDir: join(stateDir, 'agent'),
    regionId: values.region!,
    zoneId,
    cpu: num(values.cpu, 'cpu', cpus().length),
    memory: num(values.memory, 'memory', Math.floor(totalmem() / 2 ** 30)),
    hostNetns: values['sandbox-host'] ? 'own' : (values['host-netns'] ?? null),
    apiPort: Number(values['api-port']),
    imageBudgetBytes: num(values['image-budget'], 'image-budget', 20) * 2 ** 30,
  });
  if (!agent.hostNetns) console.error('eci agent: no --host-netns / --sandbox-host: instances are wired into this machine\'s own network namespace (production mode).');
  console.log(`eci agent listening on ${agent.apiEndpoint} (pid ${process.pid}, host ${agent.hostId}, zone ${zoneId}${agent.hostNetns ? `, host netns ${agent.hostNetns}` : ''})`);
  // Stopping the agent leaves its containers running: a restarted agent adopts them.
  onSignals(async () => {
    await agent.stop();
    await store.close();
  });
  return new Promise<number>(() => undefined);
}

export async function runKeys(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      account: { type: 'string' },
      store: { type: 'string', default: env.ECI_STORE },
      'state-dir': { type: 'string', default: env.ECI_STATE_DIR ?? DEFAULT_STATE_DIR },
      json: { type: 'boolean', default: false },
    },
  });
  const storeUrl = values.store ?? join(resolve(values['state-dir']!), 'eci.db');
  const store = await openStore(storeUrl);
  try {
    if (positionals[0] === 'create') {
      if (!values.account) throw new Error('eci keys create needs --account NAME');
      const key = await createAccessKey(store, values.account);
      console.log(values.json ? JSON.stringify(key) : `AccessKeyId:     ${key.accessKeyId}\nAccessKeySecret: ${key.accessKeySecret}\nAccount:         ${key.account}`);
      return 0;
    }
    if (positionals[0] === 'ls' || positionals[0] === undefined) {
      const keys = await store.listAccessKeys();
      if (values.json) console.log(JSON.stringify(keys.map((k) => ({ accessKeyId: k.accessKeyId, account: k.account }))));
      else for (const k of keys) console.log(`${k.accessKeyId}\t${k.account}`);
      return 0;
    }
    throw new Error(`unknown keys subcommand "${positionals[0]}" (create, ls)`);
  } finally {
    await store.close();
  }
}
