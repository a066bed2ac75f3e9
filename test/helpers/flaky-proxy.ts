// A loopback TCP proxy in front of a plain-HTTP registry that tests can break on purpose: cut a response body
// after n bytes (resume), go down and come back on the same port (retry), and count requests (single-flight,
// "no retry storm" after a 401).
//
// Contract: every request passing through is forced to `Connection: close` (the proxy rewrites the request
// head), so each TCP connection carries exactly one request and one response; that is what lets the proxy
// parse the request line + Range header and the response status without a full HTTP parser. Clients see an
// ordinary server that does not keep connections alive. TLS bytes pass through untouched but are not parsed
// (use it in front of http registries).

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly range?: string;
  /** The upstream response status, once its head has passed through. */
  status?: number;
  /** Response body bytes delivered to the client (after the head). */
  bodyBytes: number;
  /** True when the proxy cut this response (cutAfterBytes). */
  cut: boolean;
}

export interface FlakyProxy {
  readonly host: string;                        // '127.0.0.1:PORT'
  readonly port: number;
  readonly requests: ProxiedRequest[];          // every request seen, in arrival order (tests may clear it: length = 0)
  /**
   * Arms a cut: the next response whose body goes past n bytes delivers exactly n body bytes, then both sockets
   * are destroyed (the client sees a truncated body / reset). `match` limits which requests may be cut (e.g. blob
   * GETs only). One cut per call; calls queue up.
   */
  cutAfterBytes(n: number, match?: (r: ProxiedRequest) => boolean): void;
  /**
   * While on, new connections are accepted and then never answered (a hung server, for request timeouts); they
   * stay hung until the client gives up or down()/close(). stall(false) serves new connections normally again.
   */
  stall(on: boolean): void;
  /** Destroys every connection and closes the listener: new connections are refused. Idempotent. */
  down(): Promise<void>;
  /** Listens again on the SAME port. Idempotent. */
  up(): Promise<void>;
  close(): Promise<void>;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD_BYTES = 64 * 1024;

interface Cut { n: number; match?: (r: ProxiedRequest) => boolean }

/** Rewrites a request head to `Connection: close` and extracts method, path and Range. */
function rewriteRequestHead(head: string): { head: string; method: string; path: string; range?: string } {
  const lines = head.split('\r\n');
  const [method = '', path = ''] = (lines[0] ?? '').split(' ');
  let range: string | undefined;
  const kept = [lines[0] ?? ''];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === 'connection' || name === 'keep-alive' || name === 'proxy-connection') continue;
    if (name === 'range') range = line.slice(colon + 1).trim();
    kept.push(line);
  }
  kept.push('Connection: close');
  return { head: kept.join('\r\n'), method, path, range };
}

export async function startFlakyProxy(target: { host: string; port: number }): Promise<FlakyProxy> {
  const requests: ProxiedRequest[] = [];
  const cuts: Cut[] = [];
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let closed = false;
  let stalled = false;

  const onConnection = (client: Socket) => {
    if (stalled) {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      client.on('error', () => client.destroy());
      client.resume();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    sockets.add(client);
    sockets.add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => { sockets.delete(client); upstream.end(); });
    upstream.on('close', () => { sockets.delete(upstream); client.end(); });
    client.on('error', kill);
    upstream.on('error', kill);

    // client → upstream: rewrite the one request head, then pass the body through.
    let reqHead: Buffer | undefined = Buffer.alloc(0);
    let request: ProxiedRequest | undefined;
    client.on('data', (chunk: Buffer) => {
      if (!reqHead) {
        upstream.write(chunk);
        return;
      }
      reqHead = Buffer.concat([reqHead, chunk]);
      // Not HTTP (a TLS ClientHello probing for https): pass it through untouched, so the server answers it.
      if (!/^[A-Z]/.test(reqHead.subarray(0, 1).toString('latin1'))) {
        upstream.write(reqHead);
        reqHead = undefined;
        return;
      }
      const end = reqHead.indexOf(HEAD_END);
      if (end < 0) {
        if (reqHead.length > MAX_HEAD_BYTES) kill();
        return;
      }
      const parsed = rewriteRequestHead(reqHead.subarray(0, end).toString('latin1'));
      request = { method: parsed.method, path: parsed.path, ...(parsed.range ? { range: parsed.range } : {}), bodyBytes: 0, cut: false };
      requests.push(request);
      upstream.write(Buffer.concat([Buffer.from(parsed.head + '\r\n\r\n', 'latin1'), reqHead.subarray(end + 4)]));
      reqHead = undefined;
    });
    client.on('end', () => upstream.end());

    // upstream → client: find the response head, then count (and maybe cut) the body.
    let resHead: Buffer | undefined = Buffer.alloc(0);
    let cut: Cut | undefined;
    let cutChecked = false;
    upstream.on('data', (chunk: Buffer) => {
      let body = chunk;
      if (resHead && !request) {
        client.write(chunk);
        return;
      }
      if (resHead) {
        resHead = Buffer.concat([resHead, chunk]);
        const end = resHead.indexOf(HEAD_END);
        if (end < 0) {
          if (resHead.length > MAX_HEAD_BYTES) kill();
          return;
        }
        const status = Number(resHead.subarray(0, end).toString('latin1').split(' ')[1]);
        if (request) request.status = status;
        client.write(resHead.subarray(0, end + 4));
        body = resHead.subarray(end + 4);
        resHead = undefined;
      }
      if (body.length === 0) return;
      if (!cutChecked && request) {
        cutChecked = true;
        const i = cuts.findIndex((c) => !c.match || c.match(request as ProxiedRequest));
        if (i >= 0) cut = cuts[i];
      }
      const delivered = request?.bodyBytes ?? 0;
      // A cut fires once: a concurrent response that picked the same cut first leaves it out of the queue.
      if (cut && delivered + body.length > cut.n && cuts.includes(cut)) {
        cuts.splice(cuts.indexOf(cut), 1);
        const keep = Math.max(0, cut.n - delivered);
        if (request) {
          request.bodyBytes += keep;
          request.cut = true;
        }
        // Destroy only once the truncated body has been flushed to the client.
        client.write(body.subarray(0, keep), () => kill());
        upstream.destroy();
        return;
      }
      if (request) request.bodyBytes += body.length;
      if (!client.write(body)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    upstream.on('end', () => client.end());
  };

  const listen = (p: number) => new Promise<void>((resolve, reject) => {
    const s = createServer(onConnection);
    s.once('error', reject);
    s.listen(p, '127.0.0.1', () => {
      server = s;
      port = (s.address() as { port: number }).port;
      resolve();
    });
  });

  const down = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen(0);

  return {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    cutAfterBytes(n, match) {
      if (!Number.isInteger(n) || n < 0) throw new Error(`cutAfterBytes needs a non-negative integer: ${n}`);
      cuts.push({ n, match });
    },
    stall(on) {
      stalled = on;
    },
    down,
    async up() {
      if (closed) throw new Error('flaky proxy is closed');
      if (!server) await listen(port);
    },
    async close() {
      closed = true;
      await down();
    },
  };
}
