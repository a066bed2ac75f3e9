// Shared helpers for kernel tests (root only). Stable exports: other agent tests import them.
//
// Rules they serve: every namespace a test creates carries a unique host id (pid + random), every
// process started here is tracked by PID and killed by `stopProcesses`, and `listLeftovers` finds what
// a test forgot.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { json, listNetns, run } from '../../../src/agent/net/exec.ts';
import { attachInternetClient, detachInternetClient, type InternetClient } from '../../../src/agent/net/host.ts';
import { hostNetnsName, shortId } from '../../../src/agent/net/names.ts';

/** Why kernel tests skip on this machine, or undefined when they can run. */
export const kernelSkipReason: string | undefined =
  process.getuid?.() === 0 ? undefined : 'kernel tests need root (network namespaces, nftables)';

/** A host id unique to this process and call: `host-<pid base36><random>`, 8 characters after the prefix. */
export function uniqueHostId(): string {
  const pid = (process.pid % 46656).toString(36).padStart(3, '0');
  const rnd = [...randomBytes(5)].map((b) => (b % 36).toString(36)).join('');
  return `host-${pid}${rnd}`;
}

/** Runs argv inside a namespace (`nsenter --net`), resolving its stdout. */
export async function nsRun(netns: string | null, argv: readonly string[], input?: string): Promise<string> {
  return (await run(argv, { netns, ...(input !== undefined ? { input } : {}) })).stdout;
}

// ---- processes ----------------------------------------------------------------------------------

const started = new Set<ChildProcess>();

/** Starts a long-running process in a namespace; resolves once it printed `readyLine` (if given). */
export function startProcess(netns: string, argv: readonly string[], readyLine?: string, timeoutMs = 5000): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=/var/run/netns/${netns}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  child.on('exit', () => started.delete(child));
  if (!readyLine) return Promise.resolve(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} in ${netns}: not ready after ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes(readyLine)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} in ${netns} exited ${code}: ${err}`));
    });
  });
}

/** Kills (SIGKILL) every process started by startProcess, by PID, and waits for them. */
export async function stopProcesses(): Promise<void> {
  await Promise.all(
    [...started].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  started.clear();
}

// ---- echo servers and probes ----------------------------------------------------------------------

const ECHO = fileURLToPath(new URL('./echo.ts', import.meta.url));

/**
 * Starts an echo server in `netns` answering `<name> <port> <peer address>` on each `tcp:N` / `udp:N`.
 */
export function startEcho(netns: string, name: string, ports: readonly string[]): Promise<ChildProcess> {
  return startProcess(netns, [process.execPath, '--disable-warning=ExperimentalWarning', ECHO, 'serve', name, ports.join(',')], 'ready');
}

export interface ProbeTarget {
  readonly proto: 'tcp' | 'udp';
  readonly host: string;
  readonly port: number;
}

/** Probes the targets from `netns` in parallel; each result is the answer, `timeout` or `error:<code>`. */
export async function probe(netns: string, targets: readonly ProbeTarget[], timeoutMs = 1000): Promise<string[]> {
  const out = await nsRun(netns, [process.execPath, '--disable-warning=ExperimentalWarning', ECHO, 'probe', JSON.stringify(targets), String(timeoutMs)]);
  return JSON.parse(out) as string[];
}

export const tcp = (host: string, port: number): ProbeTarget => ({ proto: 'tcp', host, port });
export const udp = (host: string, port: number): ProbeTarget => ({ proto: 'udp', host, port });

// ---- the "Internet" ---------------------------------------------------------------------------------

/** An Internet client namespace attached to the host netns (see host.ts), with cleanup. */
export async function inetNamespace(hostId: string, cidr24 = '198.51.100.0', index = 0): Promise<InternetClient & { destroy(): Promise<void> }> {
  const c = await attachInternetClient(hostId, cidr24, index);
  return { ...c, destroy: () => detachInternetClient(c) };
}

// ---- leftovers ----------------------------------------------------------------------------------------

/**
 * Everything on the machine that carries `hostId`: namespaces named with its short id (including its
 * host netns), and — when its host netns still exists — links there whose alias names the host and
 * routes over them. Empty when a test cleaned up. `keepNetns` names namespaces still expected (the host
 * netns, an Internet client) mid-test.
 */
export async function listLeftovers(hostId: string, keepNetns: readonly string[] = []): Promise<string[]> {
  const short = shortId(hostId);
  const hostNs = hostNetnsName(hostId);
  const out: string[] = [];
  const names = await listNetns();
  for (const n of names) if ((n.startsWith(`${short}-`) || n === hostNs) && !keepNetns.includes(n)) out.push(`netns ${n}`);
  if (names.includes(hostNs)) {
    const links = await json<{ ifname: string; ifalias?: string }[]>(hostNs, ['ip', '-j', 'link']);
    const ours = links.filter((l) => (l.ifalias ?? '').startsWith(`eci:${hostId}:`));
    for (const l of ours) out.push(`link ${l.ifname} (${l.ifalias}) in ${hostNs}`);
    const routes = await json<{ dst: string; dev?: string }[]>(hostNs, ['ip', '-j', 'route']);
    for (const r of routes) if (ours.some((l) => l.ifname === r.dev)) out.push(`route ${r.dst} dev ${r.dev} in ${hostNs}`);
  }
  return out;
}
