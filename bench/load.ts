// A small keep-alive HTTP/1.1 load generator, run as its own process by bench/run.ts so that it does
// not share an event loop with what it measures. Every request is built (and, for the API, signed with
// its own nonce) before the clock starts; during the run a connection only writes prepared bytes and
// reads the answer (status line, content-length, body), one request in flight per connection.
//
// Why not autocannon: it would need the same pre-signing hook anyway (every request needs a unique
// nonce), and on a 2-core machine the generator's own cost is part of the measurement; this one does
// nothing per request beyond a buffer write and a header scan, and the floor run uses it too, so the
// ratio to the floor compares like with like.
//
// Usage: node bench/load.ts '<LoadConfig JSON>'  → prints one LoadResult JSON line on stdout.

import { connect, type Socket } from 'node:net';
import { signV1, signV3, type Pairs, type RawRequest, type SigningKey } from '../test/helpers/sign.ts';

export interface SignedSource {
  readonly kind: 'signed';
  readonly key: SigningKey;
  readonly signature: 'v3' | 'v1';
  readonly action: string;
  readonly version: string;
  /**
   * Parameter templates. In a value, `{i}` is the request's index and `{rotate:NAME}` the
   * (i mod n)-th entry of `rotate[NAME]`.
   */
  readonly params: Readonly<Record<string, string>>;
  readonly rotate?: Readonly<Record<string, readonly string[]>>;
  /**
   * Several accounts: request i is signed with the key of accounts[i mod n] and takes its rotate
   * lists from that account (over `rotate`), so each account uses its own resources.
   */
  readonly accounts?: readonly { readonly key: SigningKey; readonly rotate: Readonly<Record<string, readonly string[]>> }[];
}

export interface FixedSource {
  readonly kind: 'fixed';
  readonly request: RawRequest;
}

export interface LoadConfig {
  /** host:port */
  readonly endpoint: string;
  readonly connections: number;
  /** Requests sent before measuring (JIT warm-up, caches), not counted. */
  readonly warmup: number;
  /** Requests measured. */
  readonly requests: number;
  readonly source: SignedSource | FixedSource;
  /** A distinct tag per run, so templates with `{i}` stay unique across runs against one server. */
  readonly runId?: string;
  /** Stop issuing measured requests after this long (a slow server still gives a rate in bounded time). */
  readonly maxSeconds?: number;
}

export interface LoadResult {
  /** Measured requests answered (fewer than asked when maxSeconds cut the run short). */
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50ms: number;
  readonly p99ms: number;
  /** HTTP status → count. */
  readonly statuses: Record<string, number>;
  /** 200 answers whose body carried a Code (a disguised error). */
  readonly successWithCode: number;
  /** Up to 3 bodies of failed answers. */
  readonly sampleErrors: readonly string[];
  /** Time spent building and signing the requests before the run. */
  readonly prepareSeconds: number;
  /** The generator's own CPU time (user + system) per request while driving the load, in µs. */
  readonly loadCpuUsPerRequest: number;
}

function fill(template: string, i: number, runId: string, rotate: SignedSource['rotate']): string {
  return template.replace(/\{(i|run|rotate:([A-Za-z0-9_]+))\}/g, (_, what: string, name?: string) => {
    if (what === 'i') return String(i);
    if (what === 'run') return runId;
    const list = rotate?.[name!];
    if (!list?.length) throw new Error(`load: no rotate list "${name}"`);
    return list[i % list.length];
  });
}

function serialise(r: RawRequest): Buffer {
  const body = Buffer.from(r.body);
  let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(r.headers)) head += `${k}: ${v}\r\n`;
  head += `content-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

export function prepare(config: LoadConfig): Buffer[] {
  const n = config.warmup + config.requests;
  const src = config.source;
  if (src.kind === 'fixed') {
    const one = serialise(src.request);
    return Array.from({ length: n }, () => one);
  }
  const runId = config.runId ?? Date.now().toString(36);
  const out: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const account = src.accounts?.length ? src.accounts[i % src.accounts.length] : undefined;
    const key = account?.key ?? src.key;
    const rotate = account ? { ...src.rotate, ...account.rotate } : src.rotate;
    const params: Pairs = Object.entries(src.params).map(([k, v]) => [k, fill(v, i, runId, rotate)]);
    const req =
      src.signature === 'v3'
        ? signV3(key, { action: src.action, version: src.version, params, host: config.endpoint })
        : signV1(key, { action: src.action, version: src.version, params, host: config.endpoint, method: 'POST', placement: 'split' });
    out[i] = serialise(req);
  }
  return out;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CODE_KEY = Buffer.from('"Code":');

/** One keep-alive connection, one request in flight. */
class Connection {
  readonly #socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #onAnswer: ((status: number, body: Buffer) => void) | undefined;
  #onError: ((e: Error) => void) | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.#data(c));
    socket.on('error', (e) => this.#onError?.(e));
    socket.on('close', () => this.#onError?.(new Error('connection closed by the server')));
  }

  static open(endpoint: string): Promise<Connection> {
    const [host, port] = endpoint.split(':');
    return new Promise((resolve, reject) => {
      const s = connect(Number(port), host, () => resolve(new Connection(s)));
      s.once('error', reject);
    });
  }

  request(bytes: Buffer): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      this.#onAnswer = (status, body) => resolve({ status, body });
      this.#onError = reject;
      this.#socket.write(bytes);
    });
  }

  #data(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const end = this.#buf.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.#buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const length = m ? Number(m[1]) : 0;
    const total = end + 4 + length;
    if (this.#buf.length < total) return;
    const body = this.#buf.subarray(end + 4, total);
    this.#buf = this.#buf.length > total ? this.#buf.subarray(total) : Buffer.alloc(0);
    const done = this.#onAnswer;
    this.#onAnswer = undefined;
    this.#onError = undefined;
    done?.(status, body);
  }

  close(): void {
    this.#onError = undefined;
    this.#socket.destroy();
  }
}

export async function run(config: LoadConfig): Promise<LoadResult> {
  const t0 = performance.now();
  const requests = prepare(config);
  const prepareSeconds = (performance.now() - t0) / 1000;
  const conns = await Promise.all(Array.from({ length: config.connections }, () => Connection.open(config.endpoint)));
  const statuses: Record<string, number> = {};
  const sampleErrors: string[] = [];
  let successWithCode = 0;
  const latencies = new Float64Array(config.requests);

  const cpuBefore = process.cpuUsage();
  let next = 0;
  let measuredStart = 0;
  let answered = 0;
  const deadline = () => config.maxSeconds !== undefined && next > config.warmup && performance.now() - measuredStart > config.maxSeconds * 1000;
  const drive = async (c: Connection) => {
    while (next < requests.length && !deadline()) {
      const i = next++;
      if (i === config.warmup) measuredStart = performance.now();
      const started = performance.now();
      const { status, body } = await c.request(requests[i]);
      if (i < config.warmup) continue;
      latencies[answered++] = performance.now() - started;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status !== 200) {
        if (sampleErrors.length < 3) sampleErrors.push(`${status} ${body.toString('utf8', 0, Math.min(body.length, 300))}`);
      } else if (body.indexOf(CODE_KEY) >= 0) {
        successWithCode++;
        if (sampleErrors.length < 3) sampleErrors.push(`200 with Code: ${body.toString('utf8', 0, Math.min(body.length, 300))}`);
      }
    }
  };
  await Promise.all(conns.map(drive));
  const seconds = (performance.now() - measuredStart) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  for (const c of conns) c.close();
  const sorted = latencies.subarray(0, answered).sort();
  const pct = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 100) / 100;
  return {
    requests: answered,
    seconds: Math.round(seconds * 1000) / 1000,
    rps: Math.round(answered / seconds),
    p50ms: pct(0.5),
    p99ms: pct(0.99),
    statuses,
    successWithCode,
    sampleErrors,
    prepareSeconds: Math.round(prepareSeconds * 100) / 100,
    loadCpuUsPerRequest: Math.round((cpu.user + cpu.system) / (config.warmup + answered)),
  };
}

if (import.meta.main) {
  const config = JSON.parse(process.argv[2] ?? '') as LoadConfig;
  run(config).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e: unknown) => {
      console.error(`load: ${e instanceof Error ? e.stack : String(e)}`);
      process.exitCode = 1;
    },
  );
}
