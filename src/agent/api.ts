// The agent's local HTTP API: logs, exec and metrics of the containers this host runs. Logs, processes
// and metric samples live only on the host, so the server's DescribeContainerLog, ExecContainerCommand and
// DescribeContainerGroupMetric forward here through the host row's AgentEndpoint, with the AgentToken the
// agent wrote next to it.
//
// Contracts:
// - It binds loopback only (every process of one machine shares it; the agent process itself runs in
//   the machine's namespace, only its kernel objects live in the host netns).
// - Every request carries `Authorization: Bearer <token>`; anything else is 401.
// - Errors answer `{Code, Message}` with the HTTP status of the error's kind, so the server can relay
//   the agent's error code unchanged.
// - Non-Sync exec answers a WebSocketUri for an interactive session and, without TTY, also an HttpUrl
//   that runs the command once when fetched (GET) and answers its combined output (no stdin). Each URL
//   carries a one-time secret and expires after SESSION_TTL_MS; using one of the two spends both.
// - The WebSocket session speaks Kubernetes' channel protocol (v4.channel.k8s.io): every binary frame
//   starts with a channel byte — 0 stdin (client → agent), 1 stdout, 2 stderr, 3 status (agent →
//   client: `{"ExitCode":N}` once the process ended, then a normal close). A text frame from the
//   client is stdin as well, for simple clients. With TTY the process has a terminal (stderr arrives
//   on stdout, as on any terminal); with Stdin false its stdin is closed at once. A client that closes
//   the socket ends the process.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { MetricRecord } from '../core/metrics.ts';
import type { ExecStream } from './runtime/runc.ts';

export type { ExecStream } from './runtime/runc.ts';

export interface LogRequest {
  ContainerGroupId: string;
  ContainerName: string;
  Tail?: number;
  SinceSeconds?: number;
  /** RFC 3339. */
  StartTime?: string;
  LimitBytes?: number;
  Timestamps?: boolean;
  LastTime?: boolean;
}

export interface ExecRequest {
  ContainerGroupId: string;
  ContainerName: string;
  Command: string[];
  Sync: boolean;
  TTY: boolean;
  Stdin: boolean;
}

export interface ExecOutput {
  /** Combined stdout and stderr, in order of arrival. */
  output: string;
  exitCode: number;
}

/** A failure with a cloud error code (`IncorrectStatus`, `InvalidParameter`…) and an HTTP status. */
export class AgentApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'AgentApiError';
    this.status = status;
    this.code = code;
  }
}

/** What the agent provides behind the API. */
export interface AgentApiHandlers {
  readLog(req: LogRequest): Promise<{ ContainerName: string; Content: string }>;
  /** Runs argv in the container and waits for it (bounded by timeoutMs). */
  exec(req: ExecRequest, timeoutMs: number): Promise<ExecOutput>;
  /** The group's recent metric samples, oldest first (DescribeContainerGroupMetric); absent = 404. */
  metrics?(req: MetricsRequest): Promise<MetricsResponse>;
  /** Starts an interactive exec (non-Sync ExecContainerCommand); absent = no WebSocket sessions. */
  execStream?(req: ExecRequest): Promise<ExecStream>;
}


export interface MetricsRequest {
  ContainerGroupId: string;
}

export interface MetricsResponse {
  ContainerGroupId: string;
  Records: MetricRecord[];
}

export interface AgentApi {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly token: string;
  close(): Promise<void>;
}

const SYNC_EXEC_TIMEOUT_MS = 30_000;
const SESSION_TTL_MS = 60_000;
const MAX_BODY = 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new AgentApiError(413, 'InvalidParameter', 'The request body is too large.'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function asLogRequest(b: Record<string, unknown>): LogRequest {
  const str = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
  const num = (k: string) => (typeof b[k] === 'number' ? (b[k] as number) : undefined);
  const ContainerGroupId = str('ContainerGroupId');
  const ContainerName = str('ContainerName');
  if (!ContainerGroupId || !ContainerName) throw new AgentApiError(400, 'MissingParameter', 'ContainerGroupId and ContainerName are required.');
  return {
    ContainerGroupId,
    ContainerName,
    Tail: num('Tail'),
    SinceSeconds: num('SinceSeconds'),
    StartTime: str('StartTime'),
    LimitBytes: num('LimitBytes'),
    Timestamps: b.Timestamps === true,
    LastTime: b.LastTime === true,
  };
}

function asExecRequest(b: Record<string, unknown>): ExecRequest {
  const { ContainerGroupId, ContainerName } = asLogRequest(b);
  const cmd = b.Command;
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === 'string'))
    throw new AgentApiError(400, 'InvalidParameter', 'Command must be a non-empty list of strings.');
  return { ContainerGroupId, ContainerName, Command: cmd as string[], Sync: b.Sync === true, TTY: b.TTY === true, Stdin: b.Stdin === true };
}

/** Starts the API on 127.0.0.1:port (0 = a free port) with a fresh random token unless one is given. */
export async function startAgentApi(opts: { handlers: AgentApiHandlers; port?: number; token?: string }): Promise<AgentApi> {
  const token = opts.token ?? randomBytes(24).toString('hex');
  const sessions = new Map<string, { req: ExecRequest; expires: number }>();
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://agent');
    // A session URL is its own credential: it is handed out once, to an authenticated caller.
    const session = /^\/v1\/exec-sessions\/([0-9a-f]{48})$/.exec(url.pathname);
    if (session && req.method === 'GET') {
      const s = sessions.get(session[1]);
      sessions.delete(session[1]);
      if (!s || s.expires < Date.now()) throw new AgentApiError(404, 'InvalidParameter', 'The exec session does not exist or has expired (a session URL runs its command once).');
      const out = await opts.handlers.exec(s.req, SYNC_EXEC_TIMEOUT_MS);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-exit-code': String(out.exitCode) });
      res.end(out.output);
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (!sameSecret(auth, `Bearer ${token}`)) throw new AgentApiError(401, 'Forbidden', 'The agent API needs the host\'s agent token.');
    if (req.method !== 'POST') throw new AgentApiError(405, 'InvalidParameter', 'Use POST.');
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse((await readBody(req)) || '{}');
      body = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
    } catch {
      throw new AgentApiError(400, 'InvalidParameter', 'The body must be JSON.');
    }
    if (url.pathname === '/v1/logs') return send(res, 200, await opts.handlers.readLog(asLogRequest(body)));
    if (url.pathname === '/v1/metrics' && opts.handlers.metrics) {
      const id = typeof body.ContainerGroupId === 'string' ? body.ContainerGroupId : '';
      if (!id) throw new AgentApiError(400, 'MissingParameter', 'ContainerGroupId is required.');
      return send(res, 200, await opts.handlers.metrics({ ContainerGroupId: id }));
    }
    if (url.pathname === '/v1/exec') {
      const er = asExecRequest(body);
      if (er.Sync) {
        const out = await opts.handlers.exec(er, SYNC_EXEC_TIMEOUT_MS);
        return send(res, 200, { SyncResponse: out.output, ExitCode: out.exitCode });
      }
      if (er.TTY && !opts.handlers.execStream) throw new AgentApiError(400, 'UnsupportedOperation', 'This agent has no interactive exec sessions; use Sync=true.');
      const id = randomBytes(24).toString('hex');
      for (const [k, v] of sessions) if (v.expires < Date.now()) sessions.delete(k);
      sessions.set(id, { req: er, expires: Date.now() + SESSION_TTL_MS });
      return send(res, 200, {
        WebSocketUri: opts.handlers.execStream ? `ws://127.0.0.1:${port}/v1/exec-ws/${id}` : '',
        HttpUrl: er.TTY ? '' : `http://127.0.0.1:${port}/v1/exec-sessions/${id}`,
      });
    }
    throw new AgentApiError(404, 'InvalidParameter', `No such agent endpoint: ${url.pathname}`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.end();
      if (e instanceof AgentApiError) send(res, e.status, { Code: e.code, Message: e.message });
      else send(res, 500, { Code: 'InternalError', Message: e instanceof Error ? e.message : 'internal error' });
    });
  });
  // Interactive sessions: the upgrade is authorised by the session id alone (handed out once, to an
  // authenticated caller), like the HttpUrl.
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const m = /^\/v1\/exec-ws\/([0-9a-f]{48})$/.exec(new URL(req.url ?? '/', 'http://agent').pathname);
    const s = m ? sessions.get(m[1]) : undefined;
    if (m) sessions.delete(m[1]);
    if (!s || s.expires < Date.now() || !opts.handlers.execStream) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const execStream = opts.handlers.execStream;
    wss.handleUpgrade(req, socket, head, (ws) => void serveExecSession(ws, () => execStream(s.req), s.req.Stdin || s.req.TTY));
  });
  port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  return {
    port,
    endpoint: `127.0.0.1:${port}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Calls an agent's API (used by the server's DescribeContainerLog / ExecContainerCommand). Rejects with
 * AgentApiError carrying the agent's code, or status 503 `ServiceUnavailable` when the agent does not answer.
 */
export async function callAgent<T>(endpoint: string, token: string, path: '/v1/logs' | '/v1/exec' | '/v1/metrics', body: unknown, timeoutMs = 35_000): Promise<T> {
  const payload = JSON.stringify(body);
  // A fresh connection per call (agent: false): a pooled keep-alive socket the agent has just closed
  // would fail a request that may not be retried (exec is not idempotent).
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest(
      `http://${endpoint}${path}`,
      { method: 'POST', agent: false, timeout: timeoutMs, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new AgentApiError(503, 'ServiceUnavailable', `The host agent at ${endpoint} does not answer: ${e.message}`)));
    req.end(payload);
  });
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new AgentApiError(502, 'ServiceUnavailable', `The host agent at ${endpoint} answered something that is not JSON (HTTP ${status}).`);
  }
  if (status < 200 || status >= 300) throw new AgentApiError(status, String(parsed.Code ?? 'InternalError'), String(parsed.Message ?? `HTTP ${status}`));
  return parsed as T;
}

const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, status: 3 } as const;

/** Relays one interactive exec over a WebSocket (the channel protocol in the header). */
async function serveExecSession(ws: WebSocket, start: () => Promise<ExecStream>, stdin: boolean): Promise<void> {
  const frame = (channel: number, data: Buffer | string) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), typeof data === 'string' ? Buffer.from(data) : data]));
  };
  let stream: ExecStream;
  try {
    stream = await start();
  } catch (e) {
    frame(CHANNEL.status, JSON.stringify({ ExitCode: -1, Code: e instanceof AgentApiError ? e.code : 'InternalError', Message: e instanceof Error ? e.message : String(e) }));
    ws.close(1011);
    return;
  }
  if (!stdin) stream.stdin.end();
  stream.stdout.on('data', (c: Buffer) => frame(CHANNEL.stdout, c));
  stream.stderr.on('data', (c: Buffer) => frame(CHANNEL.stderr, c));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (!stdin) return;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary) stream.stdin.write(buf);
    else if (buf[0] === CHANNEL.stdin) stream.stdin.write(buf.subarray(1));
  });
  ws.on('close', () => stream.kill());
  const code = await stream.exited;
  frame(CHANNEL.status, JSON.stringify({ ExitCode: code }));
  ws.close(1000);
}
