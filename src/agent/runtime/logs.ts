// Container logs: one log per container run, `<logDir>/<run>.log` plus its rotated files `<run>.log.1`
// (newest) … `<run>.log.<keep>` (oldest). Lines are `<RFC 3339 nano UTC> <text>`.
//
// Who writes and stamps: the container's shim (shim.sh), not the agent. The stamp is taken as the line
// arrives, the log keeps growing while the agent is down or restarting, and rotation happens in the same
// loop that writes (size-based: a file is rotated once it reaches maxBytes; `keep` rotated files are kept,
// so a run's log is bounded by about (keep + 1) × maxBytes).
//
// The reader implements DescribeContainerLog: Tail, SinceSeconds / StartTime, LimitBytes, Timestamps and
// LastTime (the previous run, kept until the run after it starts). Pure over the file contents except
// for reading the files.

import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface LogPolicy {
  /** Rotate the current file once it reaches this size. */
  readonly maxBytes: number;
  /** Rotated files kept per run. */
  readonly keep: number;
}

export const DEFAULT_LOG_POLICY: LogPolicy = { maxBytes: 10 * 1024 * 1024, keep: 3 };

export interface LogQuery {
  /** The last N lines (after the time filter). */
  readonly tail?: number;
  /** Lines stamped at or after now − SinceSeconds. */
  readonly sinceSeconds?: number;
  /** Lines stamped at or after this RFC 3339 time (DescribeContainerLog StartTime). */
  readonly startTime?: string;
  /** At most this many bytes of the output, from its start (kubelet semantics). */
  readonly limitBytes?: number;
  /** Keep each line's RFC 3339 stamp. */
  readonly timestamps?: boolean;
  /** The previous run instead of the current one. */
  readonly lastTime?: boolean;
}

export class LogNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogNotFoundError';
  }
}

export function runLogFile(logDir: string, run: number): string {
  return join(logDir, `${run}.log`);
}

/** The files of one run, oldest first. */
export function runLogFiles(logDir: string, run: number, keepHint = 64): string[] {
  const base = runLogFile(logDir, run);
  const out: string[] = [];
  for (let i = keepHint; i >= 1; i--) if (existsSync(`${base}.${i}`)) out.push(`${base}.${i}`);
  if (existsSync(base)) out.push(base);
  return out;
}

/** Deletes the logs of runs older than `keepFrom` (the current run and the one before it stay). */
export function pruneRunLogs(logDir: string, keepFrom: number): void {
  if (!existsSync(logDir)) return;
  for (const f of readdirSync(logDir)) {
    const m = /^(\d+)\.log(\.\d+)?$/.exec(f);
    if (m && Number(m[1]) < keepFrom) rmSync(join(logDir, f), { force: true });
  }
}

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ?/;

/** Applies a query to stamped log text (pure; `nowMs` for SinceSeconds). */
export function filterLog(text: string, query: LogQuery, nowMs: number): string {
  let lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const since =
    query.sinceSeconds !== undefined ? nowMs - query.sinceSeconds * 1000 : query.startTime ? Date.parse(query.startTime) : undefined;
  if (since !== undefined && !Number.isNaN(since))
    lines = lines.filter((l) => {
      const m = STAMP.exec(l);
      return !m || Date.parse(m[1]) >= since;
    });
  if (query.tail !== undefined) lines = query.tail === 0 ? [] : lines.slice(-query.tail);
  if (!query.timestamps) lines = lines.map((l) => l.replace(STAMP, ''));
  let out = lines.length ? lines.join('\n') + '\n' : '';
  if (query.limitBytes !== undefined) {
    const buf = Buffer.from(out, 'utf8');
    if (buf.length > query.limitBytes) out = buf.subarray(0, query.limitBytes).toString('utf8');
  }
  return out;
}

/** Reads the log of `currentRun` (or the run before it with lastTime) filtered by `query`. */
export function readContainerLog(logDir: string, currentRun: number, query: LogQuery, nowMs: number): string {
  const run = query.lastTime ? currentRun - 1 : currentRun;
  const files = run >= 0 ? runLogFiles(logDir, run) : [];
  if (!files.length) {
    if (query.lastTime) throw new LogNotFoundError('The container has no previous run: it has not been restarted.');
    return '';
  }
  return filterLog(files.map((f) => readFileSync(f, 'utf8')).join(''), query, nowMs);
}
