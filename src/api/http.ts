// The HTTP edge: node:http in front of the in-process pipeline. Bodies are capped so a client cannot
// exhaust memory; the cap is far above any real request (the largest, CreateContainerGroup with config
// files, stays well under it).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WireRequest, WireResponse } from './handler.ts';

const MAX_BODY = 8 * 1024 * 1024;

export function createHttpServer(handle: (req: WireRequest) => Promise<WireResponse>): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      const reply = (r: WireResponse) => {
        res.writeHead(r.status, { 'content-type': 'application/json;charset=utf-8', 'content-length': Buffer.byteLength(r.body) });
        res.end(r.body);
      };
      if (tooBig) {
        reply({ status: 413, body: JSON.stringify({ RequestId: '', HostId: '', Code: 'RequestTooLarge', Message: `The request body exceeds ${MAX_BODY} bytes.`, Recommend: '' }) });
        return;
      }
      handle({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) }).then(reply, (e) => {
        console.error(e);
        res.writeHead(500).end();
      });
    });
  });
}

export function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}
