// The floor of the benchmark: a bare node:http server answering every request with the same small JSON
// body, no parsing, no signature, no store. Whatever the API pipeline costs is measured against this.
// With --workers N it serves from N processes on one port (SO_REUSEPORT), as `eci server --workers N`
// does, so that the two are compared with the same number of processes.
//
// Usage: node bench/floor-server.ts [--workers N]  → prints "listening on 127.0.0.1:PORT".

import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const BODY = JSON.stringify({ RequestId: '5B3A0B7E-0000-4000-8000-000000000000', TotalCount: 0, NextToken: '', ContainerGroups: [] });

const { values } = parseArgs({ options: { workers: { type: 'string', default: '1' }, port: { type: 'string', default: '0' } } });
const workers = Number(values.workers);
const isWorker = process.send !== undefined;

const server = createServer((req, res) => {
  // Read the body (there is none in the benchmark) so keep-alive stays in step, as the API server does.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json;charset=utf-8', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 65_000;
const children: ChildProcess[] = [];
server.listen({ port: Number(values.port), host: '127.0.0.1', reusePort: workers > 1 || isWorker }, async () => {
  const port = (server.address() as AddressInfo).port;
  if (isWorker) return process.send!('ready');
  for (let i = 1; i < workers; i++) {
    const child = fork(import.meta.filename, ['--port', String(port)], { stdio: 'inherit' });
    children.push(child);
    await new Promise((resolve) => child.once('message', resolve));
  }
  console.log(`floor listening on 127.0.0.1:${port}`);
});
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
