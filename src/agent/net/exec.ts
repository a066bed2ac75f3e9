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
// - Sessions (`{ session: true }`): a long-lived `ip -force -batch -`, `nft -i` or `sh` per namespace
//   and tool, fed one request at a time, so a small change costs a pipe round trip instead of a spawn
//   (measured at 10,000 EIPs loaded: one EIP element + route 21 ms spawned, ~1 ms in sessions; `nft`
//   deleting an element also pays 10–20 ms when it exits, in the close(2) of its netlink socket). A
//   session answers as the spawned form does: resolve, or ExecError carrying the tool's own
//   messages. How:
//   - each request is followed by a sentinel line that fails in a recognisable way on stderr; what the
//     tool printed on stderr before it is the request's answer;
//   - nft: the script is sent as one line, its lines joined with `;` (one line is one transaction,
//     as `nft -f` of the script is; see nftOneLine); scripts with comments or very large ones are
//     spawned. A refused transaction changed nothing, so it is asked once more of a fresh `nft -f`
//     and fails as that one does;
//   - sh (sysctl reads and writes): a non-zero status is asked once more of a fresh `sh -c`;
//   - ip (`-force`): every line runs, and the ones that failed are asked once more of a fresh
//     `ip -batch` (spawned), which decides. A long-lived `ip` caches interface name → index and
//     never forgets a name (iproute2 6.1), so after a link is deleted and re-created under the same
//     name (a VPC's uplink, a repaired veth) the session's commands on it fail with "No such device";
//     the fresh `ip` has no cache. The lines after a failing one run too, unlike `ip -batch` (which
//     stops): session ip lines must be idempotent (replace, set, tolerant deletes), as the planner's
//     are, and a failure still rejects.
//   A session is bound to the namespace it entered: when /var/run/netns/<name> no longer refers to it
//   (deleted, or deleted and re-created) it is closed and a new one is opened. Deleting a namespace
//   through this module (`ip netns del`, in `run` or in a batch) closes its sessions first, so a session
//   never keeps a deleted namespace (and the veths in it) alive; idle sessions close after five minutes;
//   `closeSessions()` ends them all (agent stop). A session that died is replaced by a spawn. Session
//   processes exit on their own when this process exits (their stdin closes), and are killed only by
//   the PIDs spawned here.

import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';

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

const nsArgv = (netns: string | null | undefined, argv: readonly string[]): string[] =>
  netns ? ['nsenter', `--net=/var/run/netns/${netns}`, '--', ...argv] : [...argv];

/** Runs argv (inside netns when given), feeding `input` on stdin; rejects with ExecError on a non-zero exit. */
export async function run(argv: readonly string[], opts: { netns?: string | null; input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  if (argv[0] === 'ip') await beforeIpLines(argv.includes('-batch') ? (opts.input ?? '').split('\n') : [argv.slice(1).filter((a) => !a.startsWith('-')).join(' ')]);
  return spawnRun(nsArgv(opts.netns, argv), opts);
}

function spawnRun(full: readonly string[], opts: { input?: string; timeoutMs?: number }): Promise<ExecResult> {
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

export interface SessionOption {
  /** Use the namespace's long-lived session (see the header); for namespaces changed again and again. */
  readonly session?: boolean;
}

/** Namespaces that `netns del|delete` lines delete lose their sessions first (see the header). */
async function beforeIpLines(lines: readonly string[]): Promise<void> {
  const gone = lines.flatMap((l) => {
    const m = /^\s*netns\s+(?:del|delete)\s+(\S+)/.exec(l);
    return m ? [m[1]] : [];
  });
  if (gone.length) await closeSessions(gone);
}

/** `ip -batch -` in netns. Lines without the leading `ip`. */
export function ipBatch(netns: string | null, lines: readonly string[], opts: SessionOption = {}): Promise<void> {
  return ipLines(netns, lines, false, opts);
}

/**
 * `ip -force -batch -` in netns: every line is tried, whatever the others do; rejects (ExecError) when
 * any failed, after all ran. For deletes of what may already be gone.
 */
export function ipBatchForce(netns: string | null, lines: readonly string[], opts: SessionOption = {}): Promise<void> {
  return ipLines(netns, lines, true, opts);
}

async function ipLines(netns: string | null, lines: readonly string[], force: boolean, opts: SessionOption): Promise<void> {
  if (!lines.length) return;
  await beforeIpLines(lines);
  const argv = nsArgv(netns, ['ip', ...(force ? ['-force'] : []), '-batch', '-']);
  const spawnIt = (these: readonly string[]) => spawnRun(argv, { input: these.join('\n') + '\n' }).then(() => undefined);
  // A namespace without its own session (an instance's, configured once) is reached from the agent's
  // shell rather than by forking the agent (see runFromShell).
  if (!opts.session && netns !== null && ipSessionable(lines)) return runFromShell(argv, { input: lines.join('\n') + '\n' }).then(() => undefined);
  if (!opts.session || !ipSessionable(lines)) return spawnIt(lines);
  const s = sessionFor('ip', netns);
  let failed: number[];
  try {
    failed = await s.requestLines(lines);
  } catch (e) {
    if (!(e instanceof SessionGone)) throw e;
    retireSession(s);
    return spawnIt(lines);
  }
  if (!failed.length) return;
  // The lines that failed (they changed nothing) are asked once more of a fresh `ip`: a session may
  // hold a stale interface index (see the header). What fails again fails as a spawn would have.
  retireSession(s);
  await spawnIt(failed.map((i) => lines[i]));
}

/** `nft -f -` in netns: the script is applied atomically (one nft transaction) or not at all. */
export async function nftApply(netns: string | null, script: string, opts: SessionOption = {}): Promise<void> {
  const spawnIt = () => spawnRun(nsArgv(netns, ['nft', '-f', '-']), { input: script }).then(() => undefined);
  const line = opts.session ? nftOneLine(script) : undefined;
  if (line === undefined) return spawnIt();
  if (!line) return;
  const s = sessionFor('nft', netns);
  try {
    await s.request(line);
  } catch (e) {
    if (!(e instanceof ExecError || e instanceof SessionGone)) throw e;
    // A refused transaction changed nothing: it is asked once more of a fresh `nft`, so whatever a
    // long-lived process may have got wrong never shows; a real refusal fails as a spawn would have.
    retireSession(s);
    return spawnIt();
  }
}

/**
 * `tc -batch -` in netns. Lines without the leading `tc`. Always spawned: a long-lived `tc` keeps
 * interface indexes as `ip` does (see the header), and its caller (the shaper) addresses the uplinks,
 * re-created whenever a VPC's router comes back; measured: a session then failed first and paid the
 * spawn anyway.
 */
export async function tcBatch(netns: string | null, lines: readonly string[]): Promise<void> {
  if (lines.length) await run(['tc', '-batch', '-'], { netns, input: lines.join('\n') + '\n' });
}

/**
 * A short shell script in netns (`sh -c`), answering what it printed on stdout; rejects (ExecError)
 * on a non-zero status. With `session`, in the namespace's long-lived `sh`: the script must be one
 * line and must not exit or read stdin; a failure there is asked once more of a fresh `sh -c`, which
 * decides (the scripts are idempotent: sysctl reads and writes). Output then includes stderr.
 */
export async function shell(netns: string | null, script: string, opts: SessionOption = {}): Promise<string> {
  const spawnIt = async () => (await run(['sh', '-c', script], { netns })).stdout;
  if (!opts.session || /[\n\r]/.test(script) || script.length > SESSION_MAX_BYTES) return spawnIt();
  const s = sessionFor('sh', netns);
  try {
    const { status, output } = await s.requestShell(script);
    if (status === 0) return output;
  } catch (e) {
    if (!(e instanceof ExecError || e instanceof SessionGone)) throw e;
  }
  retireSession(s);
  return spawnIt();
}

/** `s` as one shell word. */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/**
 * Runs argv from the agent's own long-lived `sh` (a session, see the header) instead of forking this
 * process. Node spawns with fork(2), which copies the agent's page tables: measured from the images
 * benchmark's process, one spawn of `true` cost 2.3 ms at 110 MB of RSS and 9.6 ms at 176 MB (an agent
 * grows there after pulls), where the small shell forks in well under a millisecond. For the commands
 * of the create path (an instance netns's ip batch, the overlay mount). `input` reaches the
 * command's stdin through `printf` (the session's own stdin is its request channel). Same contract as
 * `shell` with a session: answers stdout and stderr together; a failure is asked once more of a spawned
 * `sh -c`, which decides (so the command must be safe to repeat after a failure), and rejects with its
 * ExecError.
 */
export async function runFromShell(argv: readonly string[], opts: { input?: string } = {}): Promise<string> {
  // Not for `ip netns del` lines: those must close their namespace's sessions first (ipLines does).
  const cmd = argv.map(shellQuote).join(' ');
  const lines = opts.input === undefined ? [] : opts.input.replace(/\n$/, '').split('\n');
  const script = opts.input === undefined ? cmd : `printf '%s\\n' ${lines.map(shellQuote).join(' ')} | ${cmd}`;
  return shell(null, script, { session: true });
}

/** Runs a command that prints JSON (`ip -j …`, `nft -j …`, `tc -j …`) and parses it. */
export async function json<T>(netns: string | null, argv: readonly string[]): Promise<T> {
  const { stdout } = await run(argv, { netns });
  return (stdout.trim() ? JSON.parse(stdout) : []) as T;
}

/**
 * The names of all network namespaces on the machine, as `ip netns list` prints them: the entries of
 * /var/run/netns, read directly (the agent asks per pass and per group; a spawn costs 2–6 ms).
 */
export async function listNetns(): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((n) => n !== '.' && n !== '..');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

const NETNS_DIR = '/var/run/netns';

// ---- sessions ------------------------------------------------------------------------------------------

/** Larger requests are spawned: their own work dwarfs a spawn, and nothing is kept in a session's memory. */
const SESSION_MAX_BYTES = 256 * 1024;
/** A request without an answer for this long kills its session (and fails). */
const SESSION_TIMEOUT_MS = 30_000;
/** Requests after which a session is replaced (`nft -i` keeps every line in its history). */
const SESSION_MAX_REQUESTS = 2000;
/** A session unused for this long is closed (one process per tool and namespace in use, no more). */
const SESSION_IDLE_MS = 300_000;
/** How often open sessions are checked against /var/run/netns (a namespace deleted behind our back). */
const SESSION_CHECK_MS = 1000;

/** ip lines a session can carry: one command per line (no continuation, no comment), not too many. */
function ipSessionable(lines: readonly string[]): boolean {
  let bytes = 0;
  for (const l of lines) {
    if (!l.trim() || /[\n\r#]|\\$/.test(l)) return false;
    bytes += l.length + 1;
  }
  return bytes <= SESSION_MAX_BYTES;
}

/**
 * The script as one `nft -i` line (one line is one transaction, as `nft -f` of the script is): its
 * lines joined with `;`. nft's grammar takes a newline and `;` as the same statement separator, and
 * where it allows only a newline (inside a list) a `;` is a syntax error, never another meaning; a
 * whole table load rendered this way was measured to give the same ruleset. Refused: comments,
 * continuations, quotes spanning lines, unbalanced braces, very large scripts (undefined: spawn).
 * '' for an empty script.
 */
export function nftOneLine(script: string): string | undefined {
  if (script.length > SESSION_MAX_BYTES) return undefined;
  const out: string[] = [];
  let depth = 0;
  for (const raw of script.split('\n')) {
    const l = raw.trim();
    if (!l) continue;
    let quoted = false;
    for (const ch of l) {
      if (ch === '"') quoted = !quoted;
      else if (quoted) continue;
      else if (ch === '{') depth++;
      else if (ch === '}') depth--;
      else if (ch === '#' || ch === '\\' || ch === '\r') return undefined;
      if (depth < 0) return undefined;
    }
    if (quoted) return undefined;
    out.push(l);
  }
  return depth === 0 ? out.join('; ') : undefined;
}

/** The identity of a named namespace (its nsfs inode), or undefined when the name is not mounted. */
function netnsIdentity(netns: string): string | undefined {
  try {
    const st = statSync(`/var/run/netns/${netns}`);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

type Tool = 'ip' | 'nft' | 'sh';

/** The session had ended before the request was sent: nothing of it ran. */
class SessionGone extends Error {
  constructor() {
    super('the session ended before the request');
    this.name = 'SessionGone';
  }
}

interface Pending {
  readonly marker: RegExp;
  readonly resolve: (answer: { stderr: string; match: RegExpExecArray }) => void;
  readonly reject: (e: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * One long-lived tool process in one namespace. Requests are written one at a time, each followed by
 * a sentinel line that always fails in a recognisable way on stderr; what the tool printed on stderr
 * before the sentinel's message is the request's answer.
 * - ip (`-force`): every failing line ends its messages with `Command failed -:<line number>`; the
 *   sentinel `link show dev eci-sentinel` fails that way on its own line number.
 * - nft (`-i`): a failing command prints `Error: …`, the line, and a caret line; the sentinel is a
 *   syntax error echoing `eci-sentinel-<n>`.
 * - sh: the script runs with its output sent to stderr, then `echo "eci-sentinel-<n> $?" >&2`.
 */
class Session {
  readonly tool: Tool;
  readonly netns: string | null;
  readonly identity: string | undefined;
  readonly argv: readonly string[];
  readonly child: ChildProcess;
  #buf = '';
  #line = 0;
  #requests = 0;
  #queue: Promise<void> = Promise.resolve();
  #pending: Pending | undefined;
  #exited = false;
  #exit: Promise<void>;
  lastUsed = Date.now();

  constructor(tool: Tool, netns: string | null) {
    this.tool = tool;
    this.netns = netns;
    this.identity = netns ? netnsIdentity(netns) : undefined;
    this.argv = nsArgv(netns, tool === 'ip' ? ['ip', '-force', '-batch', '-'] : tool === 'nft' ? ['nft', '-i'] : ['sh']);
    // nft -i reads and writes $HOME/.nft.history: pointed at nothing, so no file is touched.
    this.child = spawn(this.argv[0], this.argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, HOME: '/nonexistent' } });
    this.#exit = new Promise((r) => this.child.once('close', () => r()));
    this.child.once('close', (code, signal) => {
      this.#exited = true;
      this.#fail(new ExecError(this.argv, code, `${this.#buf}${signal ? ` (killed by ${signal})` : ''}\nthe ${tool} session ended`));
    });
    this.child.on('error', (e) => {
      this.#exited = true;
      this.#fail(new ExecError(this.argv, null, e.message));
    });
    this.child.stdin!.on('error', () => undefined);
    this.child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      this.#buf += c;
      this.#scan();
    });
    // Idle sessions never keep this process alive.
    this.child.unref();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
    (this.child.stderr as unknown as { unref?: () => void }).unref?.();
  }

  /** Alive, under its request budget, and still in the namespace its name refers to. */
  usable(): boolean {
    if (this.#exited || this.#requests >= SESSION_MAX_REQUESTS) return false;
    return this.netns === null || netnsIdentity(this.netns) === this.identity;
  }

  get busy(): boolean {
    return this.#pending !== undefined;
  }

  /** Sends one request; resolves with what the tool printed on stderr for it (its line numbers first). */
  #request(lines: readonly string[]): Promise<{ first: number; stderr: string; status: number }> {
    this.lastUsed = Date.now();
    this.#requests++;
    const result = this.#queue.then(() => this.#send(lines));
    this.#queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** sh: the script's exit status and everything it printed (stdout and stderr, in order). */
  async requestShell(script: string): Promise<{ status: number; output: string }> {
    const { stderr, status } = await this.#request([script]);
    return { status, output: stderr };
  }

  /** nft: one line, one transaction; rejects with the tool's messages when it failed. */
  async request(line: string): Promise<void> {
    const { stderr } = await this.#request([line]);
    if (stderr.trim()) throw new ExecError(this.argv, 1, stderr);
  }

  /** ip (-force): every line runs; resolves with the indices of the lines that failed. */
  async requestLines(lines: readonly string[]): Promise<number[]> {
    const { first, stderr } = await this.#request(lines);
    const failed = new Set<number>();
    for (const m of stderr.matchAll(/Command failed -:(\d+)/g)) {
      const i = Number(m[1]) - first;
      if (i >= 0 && i < lines.length) failed.add(i);
    }
    return [...failed].sort((a, b) => a - b);
  }

  #send(lines: readonly string[]): Promise<{ first: number; stderr: string; status: number }> {
    if (this.#exited) return Promise.reject(new SessionGone());
    const first = this.#line + 1;
    return new Promise<{ stderr: string; match: RegExpExecArray }>((resolve, reject) => {
      let marker: RegExp;
      let text: string;
      if (this.tool === 'ip') {
        this.#line += lines.length + 1;
        marker = new RegExp(`(?:^|\\n)Device "eci-sentinel" does not exist\\.\\nCommand failed -:${this.#line}\\n`);
        text = `${lines.join('\n')}\nlink show dev eci-sentinel\n`;
      } else if (this.tool === 'sh') {
        const id = ++this.#line;
        marker = new RegExp(`(?:^|\\n)eci-sentinel-${id} (\\d+)\\n`);
        text = `{ ${lines[0]}\n} >&2\necho "eci-sentinel-${id} $?" >&2\n`;
      } else {
        const id = ++this.#line;
        marker = new RegExp(`(?:^|\\n)Error: [^\\n]*\\neci-sentinel-${id}\\n[ ^]*\\n`);
        text = `${lines[0]}\neci-sentinel-${id}\n`;
      }
      const timer = setTimeout(() => {
        this.#fail(new ExecError(this.argv, null, `${this.#buf}\nno answer within ${SESSION_TIMEOUT_MS} ms`));
        this.child.kill('SIGKILL');
      }, SESSION_TIMEOUT_MS);
      this.#pending = { marker, resolve, reject, timer };
      this.child.stdin!.write(text);
      this.#scan();
    }).then(({ stderr, match }) => ({ first, stderr, status: this.tool === 'sh' ? Number(match[1]) : 0 }));
  }

  #scan(): void {
    const p = this.#pending;
    if (!p) return;
    const m = p.marker.exec(this.#buf);
    if (!m) return;
    const answer = this.#buf.slice(0, m.index + (m[0].startsWith('\n') ? 1 : 0));
    this.#buf = this.#buf.slice(m.index + m[0].length);
    this.#pending = undefined;
    clearTimeout(p.timer);
    p.resolve({ stderr: answer, match: m });
  }

  #fail(e: ExecError): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    clearTimeout(p.timer);
    p.reject(e);
  }

  /** Ends the session: stdin closed (the tool exits at end of input), SIGKILL if it lingers; waits for the exit. */
  async close(): Promise<void> {
    await this.#queue;
    if (!this.#exited) {
      this.child.stdin!.end();
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 1000);
      await this.#exit;
      clearTimeout(kill);
    }
  }
}

const sessions = new Map<string, Session>();
let checker: ReturnType<typeof setInterval> | undefined;
const keyOf = (tool: string, netns: string | null) => `${tool}\0${netns ?? ''}`;

function sessionFor(tool: Tool, netns: string | null): Session {
  const key = keyOf(tool, netns);
  let s = sessions.get(key);
  if (s && !s.usable()) {
    retireSession(s);
    s = undefined;
  }
  if (!s) {
    s = new Session(tool, netns);
    sessions.set(key, s);
    checker ??= setInterval(checkSessions, SESSION_CHECK_MS).unref();
  }
  return s;
}

/** Takes a session out of use; it ends once its queued requests are answered. */
function retireSession(s: Session): void {
  const key = keyOf(s.tool, s.netns);
  if (sessions.get(key) === s) sessions.delete(key);
  void s.close();
}

/** Closes sessions that are idle, dead, or whose namespace is gone or replaced. */
function checkSessions(): void {
  const now = Date.now();
  for (const s of [...sessions.values()]) if (!s.busy && (!s.usable() || now - s.lastUsed > SESSION_IDLE_MS)) retireSession(s);
  if (!sessions.size && checker) {
    clearInterval(checker);
    checker = undefined;
  }
}

/**
 * Closes the sessions in the named namespaces (all when `netns` is omitted) and waits until their
 * processes are gone. Requests already queued on them finish first.
 */
export async function closeSessions(netns?: readonly string[]): Promise<void> {
  const wanted = netns && new Set(netns);
  const closing: Promise<void>[] = [];
  for (const [key, s] of sessions)
    if (!wanted || (s.netns !== null && wanted.has(s.netns))) {
      sessions.delete(key);
      closing.push(s.close());
    }
  await Promise.all(closing);
}

/** The PIDs of the open sessions (tests: nothing is left running). */
export function sessionPids(): number[] {
  return [...sessions.values()].flatMap((s) => (s.child.pid ? [s.child.pid] : []));
}
