// The floor of the benchmark: a bare node:http server answering every request with the same small JSON
// body, no parsing, no signature, no store. Whatever the API pipeline costs is measured against this.
//
// Usage: node bench/floor-server.ts  → prints "listening on 127.0.0.1:PORT".

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = JSON.stringify({ RequestId: '5B3A0B7E-0000-4000-8000-000000000000', TotalCount: 0, NextToken: '', ContainerGroups: [] });

const server = createServer((req, res) => {
  // Read the body (there is none in the benchmark) so keep-alive stays in step, as the API server does.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json;charset=utf-8', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => console.log(`floor listening on 127.0.0.1:${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
