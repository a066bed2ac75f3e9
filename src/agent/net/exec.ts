// The one thin layer through which the agent runs kernel tools. Everything above it renders text
// (ip batch lines, nft scripts, tc batch lines) with pure functions and hands it here.
//
// Contracts:
// - `netns` null means the namespace the agent itself runs in. In `eci dev` and in tests that is never
//   the machine's root namespace: the agent is given a host netns and every command targets it or a
//   namespace below it.
// - Commands enter a namespace with `nsenter --net=/var/run/netns/<name>`, not `ip netns exec`, because
//   the latter remounts /sys and hides the cgroup mounts runc needs (measured; see DESIGN.md).
// - One `ip -batch -` / `nft -f -` / `tc -batch -` carrying many operations costs about what a single
//   operation does, so callers batch.

import { spawn } from 'node:child_process';

export class ExecError extends Error {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly stderr: string;
  constructor(argv: readonly string[], code: number | null, stderr: string) {
    super(`${argv.join(' ')} exited ${code}: ${stderr.trim().slice(0, 2000)}`);
    this.name = 'ExecError';
    this.argv = argv;
    this.code = code;
    this.stderr = stderr;
  }
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv (inside netns when given), feeding `input` on stdin; rejects with ExecError on a non-zero exit. */
export function run(argv: readonly string[], opts: { netns?: string | null; input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  const full = opts.netns ? ['nsenter', `--net=/var/run/netns/${opts.netns}`, '--', ...argv] : [...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new ExecError(full, null, e.message));
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new ExecError(full, code, stderr || stdout));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** `ip -batch -` in netns. Lines without the leading `ip`. */
export async function ipBatch(netns: string | null, lines: readonly string[]): Promise<void> {
  if (lines.length) await run(['ip', '-batch', '-'], { netns, input: lines.join('\n') + '\n' });
}

/** `nft -f -` in netns: the script is applied atomically (one nft transaction) or not at all. */
export async function nftApply(netns: string | null, script: string): Promise<void> {
  await run(['nft', '-f', '-'], { netns, input: script });
}

/** `tc -batch -` in netns. Lines without the leading `tc`. */
export async function tcBatch(netns: string | null, lines: readonly string[]): Promise<void> {
  if (lines.length) await run(['tc', '-batch', '-'], { netns, input: lines.join('\n') + '\n' });
}

/** Runs a command that prints JSON (`ip -j …`, `nft -j …`, `tc -j …`) and parses it. */
export async function json<T>(netns: string | null, argv: readonly string[]): Promise<T> {
  const { stdout } = await run(argv, { netns });
  return (stdout.trim() ? JSON.parse(stdout) : []) as T;
}

/** The names of all network namespaces on the machine (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await run(['ip', 'netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}
