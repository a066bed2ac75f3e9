// The HTTP edge: node:http in front of the in-process pipeline. Every answer, including the ones for
// requests that never reach the pipeline (too large, not HTTP), is the reference's JSON error
// envelope, because the SDKs parse the body of any failure to find its Code.
//
// Size limits: the official SDKs put every parameter in the query string and pop-core/Terraform put
// them in a form body, so the request line and the body share one cap. It is far above any real
// request (the largest, CreateContainerGroup with config files, stays well under it) and bounds what
// one client can make the server hold. Node's default 16 KiB header limit would refuse an ordinary
// CreateContainerGroup sent by the SDK.

import { randomBytes } from 'node:crypto';
import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { newRequestId } from '../core/ids.ts';
import type { WireRequest, WireResponse } from './handler.ts';

export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

function envelope(status: number, code: string, message: string, hostId: string): WireResponse {
  const requestId = newRequestId((n) => randomBytes(n));
  return { status, body: JSON.stringify({ RequestId: requestId, HostId: hostId, Code: code, Message: message, Recommend: `See the OpenECI error reference for ${code} (docs/errors.md).` }) };
}

export function createHttpServer(handle: (req: WireRequest) => Promise<WireResponse>): Server {
  const server = createServer({ maxHeaderSize: MAX_REQUEST_BYTES }, (req, res) => {
    const hostId = req.headers.host ?? 'openeci';
    const chunks: Buffer[] = [];
    let size = 0;
    let answered = false;
    const reply = (r: WireResponse) => {
      if (answered) return;
      answered = true;
      res.writeHead(r.status, { 'content-type': 'application/json;charset=utf-8', 'content-length': Buffer.byteLength(r.body) });
      res.end(r.body);
    };
    const tooLarge = () => envelope(413, 'RequestTooLarge', `The request body exceeds ${MAX_REQUEST_BYTES} bytes.`, hostId);
    // Refused as soon as it is known to be too large; the rest is read and dropped (not held) so that
    // the connection stays usable and the client reads the answer instead of a reset.
    if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES) {
      reply(tooLarge());
      req.resume();
      return;
    }
    req.on('data', (c: Buffer) => {
      if (answered) return;
      size += c.length;
      if (size > MAX_REQUEST_BYTES) {
        chunks.length = 0;
        reply(tooLarge());
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (answered) return;
      handle({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) }).then(reply, (e) => {
        console.error(e);
        reply(envelope(500, 'InternalError', 'The request processing has failed due to some unknown error.', hostId));
      });
    });
  });

  // A request Node cannot parse never reaches the handler above; answer it in the same envelope.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A response already on its way on this connection cannot be followed by another one.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight) {
      socket.destroy();
      return;
    }
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'RequestHeaderFieldsTooLarge', `The request line and headers exceed ${MAX_REQUEST_BYTES} bytes.`]
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'RequestTimeout', 'The request was not received in time.']
          : [400, 'MalformedRequest', 'The request is not valid HTTP/1.1.'];
    const r = envelope(status, code, message, 'openeci');
    socket.end(
      `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status]}\r\ncontent-type: application/json;charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(r.body)}\r\nconnection: close\r\n\r\n${r.body}`,
    );
  });
  return server;
}

/**
 * `reusePort`: several processes listen on the one port (SO_REUSEPORT; each must ask for it) and the
 * kernel spreads the connections among them: how `eci server --workers N` serves from N processes.
 */
export function listen(server: Server, port: number, host = '127.0.0.1', opts: { reusePort?: boolean } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, reusePort: opts.reusePort ?? false }, () => resolve((server.address() as AddressInfo).port));
  });
}
