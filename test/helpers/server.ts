// Starts `eci server` the way a user does (the bin, a state dir, a port), waits until it listens, and
// creates access keys for test accounts with `eci keys create`. Each test file gets its own server.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as OpenApi from '@alicloud/openapi-client';
import { EciClient } from '../../src/client/client.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/eci');

export interface TestKey {
  accessKeyId: string;
  accessKeySecret: string;
  account: string;
}

export interface TestServer {
  readonly endpoint: string;
  readonly port: number;
  readonly stateDir: string;
  readonly storeUrl: string;
  readonly process: ChildProcess;
  key(account: string): TestKey;
  sdkConfig(key: TestKey, extra?: Record<string, unknown>): OpenApi.Config;
  client(key: TestKey): EciClient;
  /** Stops the server (SIGTERM, or SIGKILL with `kill9`) and waits for it to exit. */
  stop(kill9?: boolean): Promise<void>;
  /** Starts the server again on the same store and port. */
  restart(): Promise<void>;
  /** Stops the server and removes its state directory. */
  close(): Promise<void>;
}

export interface StartOptions {
  storeUrl?: string;
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** `eci server --workers N`. */
  workers?: number;
}

function waitForListen(child: ChildProcess): Promise<number> {
  return new Promise((resolvePort, reject) => {
    let out = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        resolvePort(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`eci server exited with ${code} before listening:\n${out}`)));
  });
}

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const stateDir = mkdtempSync(join(tmpdir(), 'eci-test-'));
  const storeUrl = opts.storeUrl ?? join(stateDir, 'eci.db');
  const args = ['server', '--state-dir', stateDir, '--store', storeUrl];
  if (opts.workers !== undefined) args.push('--workers', String(opts.workers));
  if (opts.config) {
    writeFileSync(join(stateDir, 'config.json'), JSON.stringify(opts.config));
    args.push('--config', join(stateDir, 'config.json'));
  }
  const keys = new Map<string, TestKey>();
  let port = 0;
  let child!: ChildProcess;
  const launch = async () => {
    child = spawn(BIN, [...args, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    port = await waitForListen(child);
    child.stdout!.resume();
    child.stderr!.on('data', (c: Buffer) => process.stderr.write(`[eci server] ${c}`));
  };
  await launch();
  const stop = async (kill9 = false) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(kill9 ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  const server: TestServer = {
    get endpoint() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    stateDir,
    storeUrl,
    get process() {
      return child;
    },
    key(account) {
      let k = keys.get(account);
      if (!k) {
        const r = spawnSync(BIN, ['keys', 'create', '--account', account, '--store', storeUrl, '--json'], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`eci keys create failed: ${r.stderr}`);
        k = JSON.parse(r.stdout) as TestKey;
        keys.set(account, k);
      }
      return k;
    },
    sdkConfig(key, extra = {}) {
      return new OpenApi.Config({
        accessKeyId: key.accessKeyId,
        accessKeySecret: key.accessKeySecret,
        regionId: 'cn-hangzhou',
        endpoint: server.endpoint,
        protocol: 'http',
        readTimeout: 30000,
        connectTimeout: 5000,
        ...extra,
      });
    },
    client(key) {
      return new EciClient({ endpoint: server.endpoint, accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret, regionId: 'cn-hangzhou' });
    },
    stop,
    restart: launch,
    async close() {
      await stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Runs fn and returns the error it throws (failing when it does not throw). */
export async function rejection(fn: () => Promise<unknown>): Promise<any> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
