// Starts a throw-away PostgreSQL cluster from Debian's packages (scripts/setup.sh installs them):
// initdb into a temp dir owned by the postgres user, listening on a free loopback port. PostgreSQL
// refuses to run as root, so the server runs as `postgres`; the URL uses trust auth on 127.0.0.1.

import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPostgres {
  readonly url: string;
  readonly port: number;
  /** The postmaster's PID (its backends are its children), for measuring the cluster's CPU. */
  readonly pid: number;
  /** A fresh database on this cluster. */
  createDatabase(name: string): string;
  stop(): void;
}

/** The bin directory of the newest installed PostgreSQL (initdb, pg_ctl, psql, pgbench…). */
export function pgBin(): string {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) throw new Error('PostgreSQL is not installed: run scripts/setup.sh');
  const version = readdirSync(base).sort((a, b) => Number(b) - Number(a))[0];
  return join(base, version, 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function uid(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

/** `settings`: extra server settings (`-c name=value`), e.g. shared_preload_libraries for a diagnosis. */
export async function startPostgres(settings: Readonly<Record<string, string>> = {}): Promise<TestPostgres> {
  const bin = pgBin();
  const dir = mkdtempSync(join(tmpdir(), 'eci-pg-'));
  const data = join(dir, 'data');
  const pgUid = uid('postgres');
  chownSync(dir, pgUid, pgUid);
  const asPostgres = (cmd: string, args: string[]) => {
    const r = spawnSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  asPostgres('pg_ctl', [
    '-D', data, '-l', join(dir, 'log'), '-w', '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200${Object.entries(settings).map(([k, v]) => ` -c ${k}=${v}`).join('')}`, 'start',
  ]);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stop);
    spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
  };
  // A test file that dies before its after() hook must not leave a cluster running.
  process.on('exit', stop);
  return {
    url,
    port,
    pid,
    createDatabase(name) {
      asPostgres('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', `CREATE DATABASE "${name}"`]);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop,
  };
}
