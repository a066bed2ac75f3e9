// A one-host OpenECI "cluster" as a user runs it: `eci server` and `eci agent` as separate processes on one
// SQLite store, the agent's kernel objects inside a host netns named after this test run. The agent can
// be kill -9'ed and restarted (its state dir, and so its host id, stay). `destroy()` removes everything
// the host made, whatever state the test left it in, and `leftovers()` lists what is still there.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listNetns, run } from '../../../src/agent/net/exec.ts';
import { destroySandboxHost } from '../../../src/agent/net/host.ts';
import { shortId } from '../../../src/agent/net/names.ts';
import { hostCgroupPath } from '../../../src/agent/runtime/bundle.ts';
import { cgroupControllers, removeCgroupTree, runcList } from '../../../src/agent/runtime/runc.ts';
import { listMountPoints } from '../../../src/agent/runtime/rootfs.ts';
import { RuncRuntime } from '../../../src/agent/runtime/runtime.ts';
import { BIN, startServer, type TestServer } from '../../helpers/server.ts';

export interface TestAgent {
  readonly hostId: string;
  readonly hostNetns: string;
  readonly stateDir: string;
  /** `<stateDir>/runc`: the agent's runc --root. */
  readonly runcRoot: string;
  readonly process: ChildProcess;
  /** Everything the agent printed (stdout and stderr). */
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface TestCluster {
  readonly server: TestServer;
  readonly agent: TestAgent;
  /** Netns, mounts, runc containers and cgroups of this host that still exist. */
  leftovers(): Promise<string[]>;
  /** Stops both processes and removes every kernel object and file of the host. Safe to call twice. */
  destroy(): Promise<void>;
}

/** Waits for `pattern` in what the process prints from now on (earlier runs' lines do not count). */
function waitFor(child: ChildProcess, pattern: RegExp, out: { text: string }, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const from = out.text.length;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`eci agent did not print ${pattern} within ${timeoutMs} ms:\n${out.text}`)), timeoutMs);
    const check = () => {
      const m = pattern.exec(out.text.slice(from));
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.off('exit', onExit);
        resolve(m);
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`eci agent exited with ${code}:\n${out.text}`));
    };
    child.stdout!.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

export async function startCluster(opts: { zoneId?: string } = {}): Promise<TestCluster> {
  const server = await startServer();
  const stateDir = mkdtempSync(join(tmpdir(), 'eci-agent-'));
  const out = { text: '' };
  let child!: ChildProcess;
  let hostId = '';
  let hostNetns = '';
  const launch = async () => {
    child = spawn(BIN, ['agent', '--store', server.storeUrl, '--state-dir', stateDir, '--zone', opts.zoneId ?? 'cn-hangzhou-h', '--cpu', '8', '--memory', '16', '--sandbox-host'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out.text += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (out.text += c));
    // A fresh host id per run (a new state dir), so its sandbox netns eci-host-<id> is this run's own.
    const m = await waitFor(child, /eci agent listening on [\d.]+:\d+ \(pid \d+, host (host-[a-z2-7]+), zone [^,]+, host netns ([^)]+)\)/, out);
    hostId = m[1];
    hostNetns = m[2];
  };
  const stopAgent = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  await launch();
  const agent: TestAgent = {
    get hostId() {
      return hostId;
    },
    get hostNetns() {
      return hostNetns;
    },
    stateDir: join(stateDir, 'agent'),
    runcRoot: join(stateDir, 'agent', 'runc'),
    get process() {
      return child;
    },
    output: () => out.text,
    kill9: () => stopAgent('SIGKILL'),
    stop: () => stopAgent('SIGTERM'),
    start: launch,
  };

  const prefix = () => `${shortId(hostId)}-`;
  const leftovers = async (): Promise<string[]> => {
    const found: string[] = [];
    for (const ns of await listNetns()) if (ns.startsWith(prefix()) || ns === hostNetns) found.push(`netns ${ns}`);
    for (const m of listMountPoints()) if (m.startsWith(stateDir)) found.push(`mount ${m}`);
    for (const c of await runcList(agent.runcRoot)) found.push(`runc ${c.id} (${c.status})`);
    // The host's own cgroup may stay; any group below it is a leftover.
    for (const c of cgroupControllers()) {
      const dir = join('/sys/fs/cgroup', c, hostCgroupPath(hostId));
      const kids = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()) : [];
      if (kids.length) found.push(`cgroup ${c}:${hostCgroupPath(hostId)} (${kids.map((k) => k.name).join(', ')})`);
    }
    return found;
  };
  let destroyed = false;
  return {
    server,
    agent,
    leftovers,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stopAgent('SIGKILL');
      await server.close();
      if (hostId) {
        const runtime = new RuncRuntime({ stateDir: agent.stateDir, hostId });
        for (const g of new Set((await runtime.list()).map((c) => c.groupId))) await runtime.removeGroup(g).catch(() => undefined);
        for (const ns of await listNetns()) if (ns.startsWith(prefix())) await run(['ip', 'netns', 'delete', ns]).catch(() => undefined);
        removeCgroupTree(hostCgroupPath(hostId));
      }
      if (hostId) await destroySandboxHost(hostId).catch(() => undefined);
      for (const m of listMountPoints().filter((p) => p.startsWith(stateDir)).reverse()) await run(['umount', '--lazy', m]).catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The agent's host id as persisted in its state dir. */
export function persistedHostId(agentStateDir: string): string {
  return readFileSync(join(agentStateDir, 'host-id'), 'utf8').trim();
}
