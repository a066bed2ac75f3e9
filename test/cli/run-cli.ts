// Runs bin/eci as a user would, in a clean environment: no ECI_* variables from the caller, a HOME and
// a working directory of the test's choosing, so no ~/.eci or ./.eci of the machine leaks in.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, type TestKey, type TestServer } from '../helpers/server.ts';

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  home?: string;
}

const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh empty directory for HOME or cwd, removed when the test process exits. */
export function emptyDir(prefix = 'eci-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

const defaultHome = emptyDir('eci-home-');

export function eci(args: readonly string[], opts: CliOptions = {}): CliRun {
  const home = opts.home ?? defaultHome;
  const r = spawnSync(BIN, args, {
    encoding: 'utf8',
    cwd: opts.cwd ?? home,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...opts.env },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The environment that points eci at a test server with an account's key. */
export function serverEnv(server: TestServer, key: TestKey): Record<string, string> {
  return { ECI_ENDPOINT: server.endpoint, ECI_ACCESS_KEY_ID: key.accessKeyId, ECI_ACCESS_KEY_SECRET: key.accessKeySecret };
}

/** Runs eci and fails the test with its output unless it exits 0; answers stdout. */
export function ok(args: readonly string[], opts: CliOptions = {}): string {
  const r = eci(args, opts);
  if (r.code !== 0) throw new Error(`eci ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** Splits a table printed by eci into its header cells and rows of cells (columns are 2+ spaces apart). */
export function parseTable(text: string): { header: string[]; rows: Record<string, string>[] } {
  const lines = text.trimEnd().split('\n');
  const head = lines[0];
  // Column starts: where each header word begins; cells are sliced at those offsets.
  const starts: number[] = [];
  const header: string[] = [];
  for (const m of head.matchAll(/\S+/g)) {
    starts.push(m.index);
    header.push(m[0]);
  }
  const rows = lines.slice(1).map((line) => {
    const row: Record<string, string> = {};
    header.forEach((h, i) => (row[h] = line.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : undefined).trim()));
    return row;
  });
  return { header, rows };
}
