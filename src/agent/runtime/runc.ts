// Thin wrappers around runc, each host with its own `--root` (several test "hosts" on one machine never
// see each other's containers), plus the per-container shim that owns a container run.
//
// How a container runs, and why (exit codes and surviving the agent):
//   `runc create`/`runc run -d` detach the container: its init is re-parented away from the agent and runc
//   keeps no exit status, so the agent could never learn the exit code. Node cannot make itself a child
//   subreaper (no prctl), and a wrapper process inside the container would change PID 1's signal semantics.
//   So each run is owned by a tiny shim (shim.sh), started detached with setsid. It runs `runc run --keep`
//   in the FOREGROUND: runc stays the parent, reaps the init and exits with its code (128+N when killed by
//   signal N). The container's stdout+stderr go through a timestamping, rotating log writer. When runc
//   returns, the shim reads the run's memory-cgroup OOM counter (cgroups v1 does not propagate OOM kills
//   to parent cgroups, and a run without --keep would lose its cgroup at exit), deletes the container
//   (plain delete: the process is gone) and only then writes the exit file, after the log is flushed.
//   Because the shim is in its own session, an agent `kill -9` or restart leaves it running; a new agent
//   adopts the container from the runc root and the shim's files (pid, exit), with no restart.
//   So "stopped" is observed as the exit file with no runc state left. If the shim itself dies, the
//   container keeps running and is reported from `runc state`; its exit code is then unknown and
//   `runcDelete` (plain, never -f) removes what it left.
// - runc is run in the agent's own namespace; the container joins the instance netns by path (config.json).
// - `runc exec` is not detached, so pipes are fine there (only detached runc keeps the caller's pipes).

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ExecError, run, shellQuote } from '../net/exec.ts';

export const SHIM_PATH = fileURLToPath(new URL('./shim.sh', import.meta.url));
const CGROUP_ROOT = '/sys/fs/cgroup';

export interface RuncState {
  readonly id: string;
  readonly pid: number;
  /** creating | created | running | paused | stopped */
  readonly status: string;
  readonly bundle: string;
  readonly created: string;
}

const notExist = (e: unknown): boolean => e instanceof ExecError && /does not exist|not exist/.test(e.stderr);

/** `runc state`; null when runc does not know the container. */
export async function runcState(root: string, id: string): Promise<RuncState | null> {
  try {
    const { stdout } = await run(['runc', '--root', root, 'state', id]);
    return JSON.parse(stdout) as RuncState;
  } catch (e) {
    if (notExist(e)) return null;
    throw e;
  }
}

export async function runcList(root: string): Promise<RuncState[]> {
  if (!existsSync(root)) return [];
  const { stdout } = await run(['runc', '--root', root, 'list', '-f', 'json']);
  return (JSON.parse(stdout.trim() || 'null') as RuncState[] | null) ?? [];
}

/** Signals the container's init. False when the container is gone or no longer running. */
export async function runcKill(root: string, id: string, signal: string): Promise<boolean> {
  try {
    await run(['runc', '--root', root, 'kill', id, signal]);
    return true;
  } catch (e) {
    if (notExist(e) || (e instanceof ExecError && /not running|process already finished/.test(e.stderr))) return false;
    throw e;
  }
}

/** Plain `runc delete` of a container whose process is gone; deleting what is already gone succeeds. */
export async function runcDelete(root: string, id: string): Promise<void> {
  try {
    await run(['runc', '--root', root, 'delete', id]);
  } catch (e) {
    if (!notExist(e)) throw e;
  }
}

export interface ExecOutput {
  readonly stdout: string;
  readonly stderr: string;
  /** The command's exit code; 128+N when killed by signal N; -1 when it never ran. */
  readonly exitCode: number;
  readonly timedOut: boolean;
}

/**
 * `runc exec` of argv in a running container, capturing output. On timeout the exec'd process is killed by
 * its host PID (signals to runc itself are only forwarded, and SIGKILL cannot be). Output is complete when
 * every holder of the pipes is gone, so a command that leaves a background process writing to them is
 * answered at the timeout (timedOut, with the output so far); the background process keeps running.
 */
/** A fresh `--pid-file` for one exec, in the container's directory: the exec'd process's PID, for killing it. */
function execPidFile(pidDir: string): string {
  mkdirSync(pidDir, { recursive: true });
  return join(pidDir, `exec-${process.pid}-${Math.random().toString(36).slice(2, 10)}.pid`);
}

/** A child's exit as a shell reports it: its code, 128+N when killed by signal N, -1 when unknown. */
const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number => code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : -1);

export function runcExec(root: string, id: string, argv: readonly string[], opts: { timeoutMs: number; cwd?: string; env?: readonly string[]; pidDir: string }): Promise<ExecOutput> {
  const pidFile = execPidFile(opts.pidDir);
  const args = ['--root', root, 'exec', '--pid-file', pidFile];
  if (opts.cwd) args.push('--cwd', opts.cwd);
  for (const e of opts.env ?? []) args.push('--env', e);
  args.push(id, ...argv);
  return new Promise((resolve) => {
    const child = spawn('runc', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    // On timeout the exec'd process is killed and runc exec, its parent, reaps it and returns. Killing runc
    // itself would orphan the process to the machine's init, and the container's init could then not
    // finish exiting until that zombie is reaped (measured: a stop took 2 s instead of 30 ms).
    let escalate: NodeJS.Timeout | undefined;
    // When the command is already gone, what runc waits for is a background process still holding the
    // output pipes (as `kubectl exec` does, the answer waits for the streams): runc is stopped at once.
    const timer = setTimeout(() => {
      timedOut = true;
      const pid = readPid(pidFile);
      const running = pid !== null && pidAlive(pid);
      if (running) tryKill(pid, 'SIGKILL');
      escalate = setTimeout(() => child.kill('SIGKILL'), running ? 2000 : 0);
    }, opts.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    let done = false;
    const finish = (exitCode: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (escalate) clearTimeout(escalate);
      rmSync(pidFile, { force: true });
      resolve({ stdout, stderr, exitCode, timedOut });
    };
    child.on('error', (e) => {
      stderr += e.message;
      finish(-1);
    });
    child.on('close', (code, signal) => finish(exitCodeOf(code, signal)));
  });
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/** An interactive exec: the process's stdin and output streams, and its exit. */
export interface ExecStream {
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  /** The exit code (128+N for signal N, -1 when it could not run). */
  readonly exited: Promise<number>;
  /** Ends the session: the exec'd process is killed (runc, its parent, then reaps it and returns). */
  kill(): void;
}

/**
 * `runc exec` with its stdio as pipes, for an interactive session. With `tty` the process gets a terminal:
 * runc's foreground `--tty` needs its own stdio to be one, so it runs under util-linux `script`, which
 * makes a pseudo-terminal for it and relays it to the pipes (stderr then comes merged into stdout, as on
 * any terminal); `script -e` answers the command's exit code.
 */
export function runcExecStream(root: string, id: string, argv: readonly string[], opts: { tty: boolean; pidDir: string }): ExecStream {
  const pidFile = execPidFile(opts.pidDir);
  const runcArgs = ['--root', root, 'exec', ...(opts.tty ? ['--tty'] : []), '--pid-file', pidFile, id, ...argv];
  const child = opts.tty
    ? spawn('script', ['--quiet', '--return', '--command', ['runc', ...runcArgs].map(shellQuote).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn('runc', runcArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (code, signal) => {
      rmSync(pidFile, { force: true });
      resolve(exitCodeOf(code, signal));
    });
  });
  child.stdin.on('error', () => undefined);
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    kill() {
      const pid = readPid(pidFile);
      if (pid !== null && pidAlive(pid)) tryKill(pid, 'SIGKILL');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    },
  };
}

export function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------------------
// The shim.

export interface ShimFiles {
  readonly pid: string;
  readonly exit: string;
  readonly shimPid: string;
  readonly runcLog: string;
  readonly shimErr: string;
}

export function shimFiles(containerDir: string): ShimFiles {
  return {
    pid: join(containerDir, 'pid'),
    exit: join(containerDir, 'exit'),
    shimPid: join(containerDir, 'shim.pid'),
    runcLog: join(containerDir, 'runc.log'),
    shimErr: join(containerDir, 'shim.err'),
  };
}

/** The run's shim is alive: its recorded PID exists and is the shim of this container (not a reused PID). */
export function shimAlive(containerDir: string, id: string): boolean {
  const pid = readPid(shimFiles(containerDir).shimPid);
  if (pid === null) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(id);
  } catch {
    return false;
  }
}

export interface ExitRecord {
  readonly exitCode: number;
  readonly finishedAt: string;
  /** The run's memory cgroup counted an OOM kill. */
  readonly oomKilled: boolean;
}

export function readExit(containerDir: string): ExitRecord | null {
  try {
    const [code, finishedAt, oomKills] = readFileSync(shimFiles(containerDir).exit, 'utf8').trim().split(' ');
    return { exitCode: Number(code), finishedAt: finishedAt ?? '', oomKilled: Number(oomKills ?? 0) > 0 };
  } catch {
    return null;
  }
}

/** The last error runc logged for this container (its `--log` file, JSON lines), or ''. */
export function lastRuncError(containerDir: string): string {
  try {
    const lines = readFileSync(shimFiles(containerDir).runcLog, 'utf8').trim().split('\n').reverse();
    for (const l of lines) {
      const entry = JSON.parse(l) as { level?: string; msg?: string };
      if (entry.level === 'error' || entry.level === 'fatal') return entry.msg ?? '';
    }
  } catch {
    // no log or not JSON
  }
  return '';
}

export interface ShimStart {
  readonly root: string;
  /** The run's cgroup path (config.json cgroupsPath), for its OOM counter. */
  readonly cgroupsPath: string;
  readonly bundle: string;
  readonly id: string;
  readonly containerDir: string;
  readonly logFile: string;
  readonly maxLogBytes: number;
  readonly keepLogs: number;
}

/**
 * Starts a shim for one run and waits until the container process is running (its PID) or the run has
 * already ended (failed to start, or exited at once): the caller reads `readExit` then. The previous run's
 * pid/exit files are removed first, so what is read belongs to this run.
 */
export async function startShim(s: ShimStart, timeoutMs = 10_000): Promise<{ pid: number | null; exited: ExitRecord | null }> {
  const f = shimFiles(s.containerDir);
  for (const p of [f.pid, f.exit, f.runcLog]) rmSync(p, { force: true });
  // Spawned by the agent itself, not through its shell session (exec.ts runFromShell): the shim's PID
  // must name the shim from the moment it is recorded (shimAlive reads its cmdline), which Node's spawn
  // guarantees (it returns after the exec) and a shell's `$!` does not (it names the child before its
  // exec; one loaded CI run read a shell's cmdline there and declared the shim lost).
  const err = openSync(f.shimErr, 'a');
  try {
    const child = spawn('bash', [SHIM_PATH, s.root, s.bundle, s.id, s.containerDir, s.logFile, String(s.maxLogBytes), String(s.keepLogs), join(CGROUP_ROOT, 'memory', s.cgroupsPath)], {
      detached: true,
      stdio: ['ignore', err, err],
    });
    child.unref();
    if (child.pid) writeFileSync(f.shimPid, String(child.pid));
  } finally {
    closeSync(err);
  }
  const deadline = Date.now() + timeoutMs;
  // A short poll: runc writes the pid file 40–100 ms after the spawn, and every millisecond between that
  // and our noticing is start latency (a read of a missing file costs microseconds).
  for (let wait = 2; Date.now() < deadline; wait = Math.min(wait + 1, 5)) {
    const pid = readPid(f.pid);
    if (pid) return { pid, exited: readExit(s.containerDir) };
    const exited = readExit(s.containerDir);
    if (exited) return { pid: null, exited };
    await new Promise((r) => setTimeout(r, wait));
  }
  throw new Error(`Container ${s.id} did not start within ${timeoutMs} ms: ${lastRuncError(s.containerDir) || 'runc gave no reason'}.`);
}

/** Polls until the run's exit record exists; null on timeout. */
export async function waitExit(containerDir: string, timeoutMs: number): Promise<ExitRecord | null> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    const exited = readExit(containerDir);
    if (exited || Date.now() >= deadline) return exited;
    await new Promise((r) => setTimeout(r, wait));
  }
}

// ---------------------------------------------------------------------------------------------------
// cgroups (v1, cgroupfs paths). runc creates a container's leaf cgroup and removes it when the run ends;
// the group's parent (`/eci/<host>/<group>`) is ours: it carries the group's CPU and memory limit, which
// every container's own limit sits under, and is removed with the group.

const LIMITED_CONTROLLERS = ['memory', 'cpu'];

export function cgroupControllers(): string[] {
  try {
    return readdirSync(CGROUP_ROOT).filter((c) => c !== 'unified' && !c.includes(','));
  } catch {
    return [];
  }
}

/** Creates the group's parent cgroup with its limits (idempotent: limits are rewritten; 0 = unlimited). */
export function ensureGroupCgroup(path: string, limits: { memoryBytes: number; cpuQuotaUs: number; cpuPeriodUs: number }): void {
  for (const c of LIMITED_CONTROLLERS) mkdirSync(join(CGROUP_ROOT, c, path), { recursive: true });
  writeFileSync(join(CGROUP_ROOT, 'memory', path, 'memory.limit_in_bytes'), limits.memoryBytes > 0 ? String(limits.memoryBytes) : '-1');
  writeFileSync(join(CGROUP_ROOT, 'cpu', path, 'cpu.cfs_period_us'), String(limits.cpuPeriodUs));
  writeFileSync(join(CGROUP_ROOT, 'cpu', path, 'cpu.cfs_quota_us'), limits.cpuQuotaUs > 0 ? String(limits.cpuQuotaUs) : '-1');
}

/** Removes the cgroup `path` and everything below it in every controller (deepest first); gone is fine. */
export function removeCgroupTree(path: string): void {
  for (const c of cgroupControllers()) {
    const top = join(CGROUP_ROOT, c, path);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    };
    walk(top);
    for (const d of dirs.reverse()) {
      try {
        rmdirSync(d);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }
}
