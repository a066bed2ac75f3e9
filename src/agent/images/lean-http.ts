// A minimal HTTP/1.1 GET for large bodies (image layer blobs), over node:net or node:tls, reading the
// socket with `onread` into 1 MiB slabs instead of node:http's fresh 64 KiB buffer per read.
//
// Why: measured here, reading 100 MB from the loopback registry cost ~190 ms of CPU through node:http
// (a buffer allocated per read, the parser, stream events, and the garbage of all of it), ~110 ms through a
// plain socket's 'data' events, and ~40 ms with `onread` into large reused memory. A cold pull is CPU-bound
// on a small host, so this is most of the difference between the pull and `skopeo copy`.
//
// Contracts:
// - One request per connection (`Connection: close`); the body ends at Content-Length, or at the close of
//   the connection when the response has none. A connection that ends before Content-Length bytes
//   fails with ERR_STREAM_PREMATURE_CLOSE (a retryable network failure for the registry client).
// - Chunked (or otherwise encoded) responses are not decoded here: `leanGet` rejects with
//   LeanHttpUnsupported before reading the body, and the caller asks again through node:http.
// - The body is an async iterable of Buffers that are views into slabs never written again once handed
//   out, so a consumer may keep a chunk (an fs write in flight, a zlib input) as long as it likes.
//   Chunks are large: a view is handed out when its slab is full (about 1 MiB), or at the end.
// - `recycle(chunk)` gives a chunk's slab back for the next reads (the caller must not touch the chunk
//   again). Optional, but a pull that recycles allocates a few slabs per layer instead of one per MiB,
//   and the agent's heap is marked far less often: V8 starts a full GC for every ~64 MB of new
//   ArrayBuffer memory, and each one marks the whole agent.
// - A failure after the headers (a cut connection) is thrown by the iteration after every byte that
//   arrived before it was handed out, so the caller can resume from exactly there.
// - Backpressure: the socket is paused while more than HIGH_WATER bytes wait for the consumer.
// - `destroy()` (or breaking out of the iteration) closes the connection; the abort signal does too.

import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export class LeanHttpUnsupported extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'LeanHttpUnsupported';
  }
}

export interface LeanResponse {
  readonly statusCode: number;
  /** Lower-case names; a repeated header is an array. */
  readonly headers: Record<string, string | string[] | undefined>;
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
  /** Gives a chunk's slab back (see the header). */
  recycle(chunk: Buffer): void;
  /** Discards the body (closes the connection). */
  resume(): void;
  destroy(error?: Error): void;
}

export interface LeanRequest {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** https only: verify the server's certificate. */
  readonly rejectUnauthorized: boolean;
  readonly signal?: AbortSignal;
  /** No data for this long fails the request (ETIMEDOUT). */
  readonly timeoutMs: number;
}

const SLAB = 1024 * 1024;
/** A slab with less room than this is handed out and a new one started (a TLS record is ≤ 16 KiB + overhead). */
const MIN_ROOM = 64 * 1024;
/** Bytes read but not yet taken by the consumer before the socket is paused. */
const HIGH_WATER = 4 * SLAB;
const MAX_HEADER_BYTES = 64 * 1024;
/** Recycled slabs kept per response (more than the reads in flight and the consumer's window need is waste). */
const POOL_MAX = 8;

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

/** Sends a GET and resolves once the response's status line and headers are in. */
export function leanGet(req: LeanRequest): Promise<LeanResponse> {
  return new Promise((resolve, reject) => {
    const { url } = req;
    const https = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port) || (https ? 443 : 80);

    let slab: Buffer = Buffer.allocUnsafeSlow(SLAB);
    /** The slabs this response allocated (recycle accepts only those), and the free ones. */
    const mine = new WeakSet<ArrayBufferLike>([slab.buffer]);
    const pool: Buffer[] = [];
    let used = 0; // bytes of `slab` filled by reads
    let handed = 0; // bytes of `slab` handed out (or consumed as headers)
    const queue: Buffer[] = [];
    let queued = 0;
    let headersDone = false;
    let bodyLeft = Infinity; // Content-Length left, Infinity: until close
    let ended = false;
    let failure: Error | undefined;
    let waiter: (() => void) | undefined;
    let paused = false;
    let response: LeanResponse | undefined;

    const wake = () => {
      const w = waiter;
      waiter = undefined;
      w?.();
    };
    const fail = (e: Error) => {
      if (failure || (ended && queue.length === 0)) return;
      // What arrived before the failure is still handed out (then the error): a resume continues after it.
      if (headersDone && !ended) handOut();
      failure = e;
      if (!response) reject(e);
      wake();
      socket.destroy();
    };
    /** Hands the unhanded part of the slab to the queue (at most `bodyLeft` of it). */
    const handOut = () => {
      if (used > handed) {
        const view = slab.subarray(handed, used);
        handed = used;
        queue.push(view);
        queued += view.length;
        wake();
      }
    };
    const finish = () => {
      if (ended) return;
      ended = true;
      handOut();
      wake();
      socket.destroy();
    };

    const parseHeaders = (): boolean => {
      const text = slab.subarray(0, used);
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        if (used >= MAX_HEADER_BYTES) fail(withCode(`response headers from ${url.host} exceed ${MAX_HEADER_BYTES} bytes`, 'HPE_HEADER_OVERFLOW'));
        return false;
      }
      const lines = text.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      if (!m) {
        fail(withCode(`malformed status line from ${url.host}: ${lines[0].slice(0, 100)}`, 'HPE_INVALID_CONSTANT'));
        return false;
      }
      const headers: Record<string, string | string[] | undefined> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i <= 0) continue;
        const name = line.slice(0, i).trim().toLowerCase();
        const value = line.slice(i + 1).trim();
        const prev = headers[name];
        headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
      }
      const te = String(headers['transfer-encoding'] ?? '').toLowerCase();
      const ce = String(headers['content-encoding'] ?? 'identity').toLowerCase();
      if ((te && te !== 'identity') || ce !== 'identity') {
        fail(new LeanHttpUnsupported(`response with transfer-encoding "${te}" / content-encoding "${ce}"`));
        return false;
      }
      const status = Number(m[1]);
      const length = headers['content-length'];
      if (length !== undefined) {
        bodyLeft = Number(length);
        if (!Number.isSafeInteger(bodyLeft) || bodyLeft < 0) {
          fail(withCode(`bad content-length "${String(length)}" from ${url.host}`, 'HPE_INVALID_CONTENT_LENGTH'));
          return false;
        }
      } else if (status === 204 || status === 304) {
        bodyLeft = 0;
      }
      headersDone = true;
      handed = end + 4;
      response = makeResponse(status, headers);
      resolve(response);
      return true;
    };

    /** `n` new bytes are at slab[used - n, used). */
    const onBytes = (n: number) => {
      let fresh = n;
      if (!headersDone) {
        if (!parseHeaders()) return;
        fresh = used - handed; // the body bytes that came with the headers
      }
      // Bytes beyond the body (there should be none with Connection: close) are dropped.
      if (fresh > bodyLeft) {
        used -= fresh - bodyLeft;
        fresh = bodyLeft;
      }
      bodyLeft -= fresh;
      if (bodyLeft === 0) return finish();
      if (SLAB - used < MIN_ROOM) handOut();
      if (queued > HIGH_WATER && !paused) {
        paused = true;
        socket.pause();
      }
    };

    const nextBuffer = (): Buffer => {
      if (SLAB - used < MIN_ROOM) {
        // Keep what was read but not handed out (headers still arriving): carry it to the new slab.
        const carry = slab.subarray(handed, used);
        const next = carry.length === 0 && pool.length ? pool.pop()! : Buffer.allocUnsafeSlow(Math.max(SLAB, carry.length * 2));
        mine.add(next.buffer);
        carry.copy(next);
        slab = next;
        used = carry.length;
        handed = 0;
      }
      return slab.subarray(used);
    };

    const onread = {
      buffer: nextBuffer,
      callback: (n: number): boolean => {
        used += n;
        onBytes(n);
        return true;
      },
    };
    const socket: Socket = https
      ? // node:tls takes `onread` as node:net does (tls.TLSSocket is a net.Socket); @types/node lacks it.
        tlsConnect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: req.rejectUnauthorized, ALPNProtocols: ['http/1.1'], onread } as ConnectionOptions)
      : netConnect({ host, port, onread });
    socket.setNoDelay(true);
    socket.setTimeout(req.timeoutMs, () => fail(withCode(`no data for ${req.timeoutMs} ms`, 'ETIMEDOUT')));
    socket.once(https ? 'secureConnect' : 'connect', () => {
      const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close', 'Accept-Encoding: identity'];
      for (const [k, v] of Object.entries(req.headers)) lines.push(`${k}: ${v}`);
      socket.write(lines.join('\r\n') + '\r\n\r\n');
    });
    socket.on('error', (e) => fail(e));
    socket.on('end', () => {
      if (!headersDone) return fail(withCode(`${url.host} closed the connection before answering`, 'ECONNRESET'));
      if (bodyLeft !== Infinity && bodyLeft > 0) return fail(withCode(`${url.host} closed the connection ${bodyLeft} bytes before the end of the body`, 'ERR_STREAM_PREMATURE_CLOSE'));
      finish();
    });
    socket.on('close', () => {
      if (!ended && !failure) fail(withCode(`connection to ${url.host} closed`, 'ERR_STREAM_PREMATURE_CLOSE'));
    });
    const onAbort = () => fail(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));
    if (req.signal?.aborted) return onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => req.signal?.removeEventListener('abort', onAbort));

    function makeResponse(statusCode: number, headers: LeanResponse['headers']): LeanResponse {
      return {
        statusCode,
        headers,
        recycle: (chunk: Buffer) => {
          const whole = chunk.buffer;
          if (!mine.has(whole) || whole === slab.buffer || pool.length >= POOL_MAX || whole.byteLength !== SLAB) return;
          if (pool.some((p) => p.buffer === whole)) return;
          pool.push(Buffer.from(whole, 0, SLAB));
        },
        resume: () => socket.destroy(),
        destroy: (e?: Error) => {
          if (e) fail(e);
          else {
            ended = true;
            queue.length = 0;
            wake();
            socket.destroy();
          }
        },
        [Symbol.asyncIterator]: () => ({
          next: async (): Promise<IteratorResult<Buffer>> => {
            for (;;) {
              if (queue.length) {
                const chunk = queue.shift()!;
                queued -= chunk.length;
                if (paused && queued <= HIGH_WATER / 2) {
                  paused = false;
                  socket.resume();
                }
                return { value: chunk, done: false };
              }
              if (failure) throw failure;
              if (ended) return { value: undefined, done: true };
              // Nothing full yet: wait for a slab to fill, the end, or a failure.
              await new Promise<void>((r) => (waiter = r));
            }
          },
          return: async (): Promise<IteratorResult<Buffer>> => {
            if (!ended) {
              ended = true;
              queue.length = 0;
              socket.destroy();
            }
            return { value: undefined, done: true };
          },
        }),
      };
    }
  });
}
