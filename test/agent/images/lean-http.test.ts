// lean-http (the blob-body transport) against node:http/node:https servers that answer the ways registries
// and blob stores do: Content-Length bodies, close-delimited bodies, chunked ones (refused, so the client
// asks again through node:http), redirects to another host, TLS, cuts mid-body, slow consumers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { leanGet, LeanHttpUnsupported } from '../../../src/agent/images/lean-http.ts';
import { RegistryClient, type RegistryTarget } from '../../../src/agent/images/registry-client.ts';
import { parseImageReference } from '../../../src/core/image-reference.ts';

const BODY = randomBytes(9 * 1024 * 1024 + 12345);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>();
const seen: { path: string; headers: IncomingMessage['headers'] }[] = [];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

async function collect(it: AsyncIterable<Buffer>, slowMs = 0): Promise<{ body: Buffer; chunks: number; error?: Error }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of it) {
      parts.push(Buffer.from(c));
      if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
    }
  } catch (e) {
    return { body: Buffer.concat(parts), chunks: parts.length, error: e as Error };
  }
  return { body: Buffer.concat(parts), chunks: parts.length };
}

describe('lean-http', () => {
  let server: Server;
  let tlsServer: Server;
  let host = '';
  let tlsHost = '';
  let certDir = '';

  before(async () => {
    const handle: Handler = (req, res) => {
      seen.push({ path: req.url ?? '', headers: req.headers });
      const h = routes.get((req.url ?? '').split('?')[0]);
      if (h) return h(req, res);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
    };
    server = createServer(handle);
    host = await listen(server);
    certDir = mkdtempSync(join(tmpdir(), 'eci-lean-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(certDir, 'k.pem'), '-out', join(certDir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    tlsServer = createHttpsServer({ key: readFileSync(join(certDir, 'k.pem')), cert: readFileSync(join(certDir, 'c.pem')) }, handle);
    tlsHost = await listen(tlsServer);
    routes.set('/v2/team/app/blobs/sha256:len', (_req, res) => res.writeHead(200, { 'content-length': BODY.length }).end(BODY));
    routes.set('/v2/team/app/blobs/sha256:close', (_req, res) => {
      // No Content-Length, no chunking: the body ends with the connection.
      res.useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
      res.writeHead(200, { connection: 'close' });
      res.end(BODY.subarray(0, 300_000));
    });
    routes.set('/v2/team/app/blobs/sha256:chunked', (_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write(BODY.subarray(0, 100_000));
      res.end(BODY.subarray(100_000, 250_000));
    });
    routes.set('/v2/team/app/blobs/sha256:cut', (_req, res) => {
      res.writeHead(200, { 'content-length': BODY.length });
      res.write(BODY.subarray(0, 3 * 1024 * 1024 + 7), () => setTimeout(() => res.socket?.destroy(), 50));
    });
    routes.set('/v2/team/app/blobs/sha256:moved', (req, res) => res.writeHead(307, { location: `http://localhost:${host.split(':')[1]}/store/blob?sig=1` }).end());
    routes.set('/store/blob', (_req, res) => res.writeHead(200, { 'content-length': BODY.length }).end(BODY));
    routes.set('/v2/team/app/blobs/sha256:hang', () => undefined);
  });

  after(async () => {
    server.closeAllConnections();
    tlsServer.closeAllConnections?.();
    await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => tlsServer.close(r))]);
    rmSync(certDir, { recursive: true, force: true });
  });

  const get = (path: string, opts: { tls?: boolean; verify?: boolean; signal?: AbortSignal; timeoutMs?: number } = {}) =>
    leanGet({ url: new URL(`${opts.tls ? 'https' : 'http'}://${opts.tls ? tlsHost : host}${path}`), headers: { Authorization: 'Bearer t0k' }, rejectUnauthorized: opts.verify ?? false, signal: opts.signal, timeoutMs: opts.timeoutMs ?? 5000 });

  it('reads a Content-Length body whole, in large chunks, with the request headers sent', async () => {
    const res = await get('/v2/team/app/blobs/sha256:len');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(BODY.length));
    const { body, chunks, error } = await collect(res);
    assert.equal(error, undefined);
    assert.equal(sha(body), sha(BODY));
    assert.ok(chunks <= 12, `${chunks} chunks for ${BODY.length} bytes: want ~1 MiB each`);
    const req = seen.at(-1)!;
    assert.equal(req.headers.authorization, 'Bearer t0k');
    assert.equal(req.headers.connection, 'close');
  });

  it('reuses recycled slabs for later reads, without corrupting what was handed out', async () => {
    const res = await get('/v2/team/app/blobs/sha256:len');
    const h = createHash('sha256');
    const buffers = new Set<ArrayBufferLike>();
    let chunks = 0;
    for await (const c of res) {
      h.update(c);
      buffers.add(c.buffer);
      chunks++;
      res.recycle(c);
    }
    assert.equal(h.digest('hex'), sha(BODY));
    assert.ok(chunks >= 9, `${chunks} chunks`);
    assert.ok(buffers.size < chunks, `${buffers.size} slabs for ${chunks} chunks: none was reused`);
  });

  it('keeps every byte intact for a slow consumer (the socket is paused, not overrun)', async () => {
    const { body, error } = await collect(await get('/v2/team/app/blobs/sha256:len'), 15);
    assert.equal(error, undefined);
    assert.equal(sha(body), sha(BODY));
  });

  it('reads a body delimited by the end of the connection', async () => {
    const { body, error } = await collect(await get('/v2/team/app/blobs/sha256:close'));
    assert.equal(error, undefined);
    assert.equal(sha(body), sha(BODY.subarray(0, 300_000)));
  });

  it('refuses a chunked answer with LeanHttpUnsupported before reading it', async () => {
    await assert.rejects(get('/v2/team/app/blobs/sha256:chunked'), LeanHttpUnsupported);
  });

  it('hands out what arrived before a cut, then fails with a retryable premature close', async () => {
    const { body, error } = await collect(await get('/v2/team/app/blobs/sha256:cut'));
    assert.equal((error as NodeJS.ErrnoException | undefined)?.code, 'ERR_STREAM_PREMATURE_CLOSE');
    assert.equal(body.length, 3 * 1024 * 1024 + 7);
    assert.equal(sha(body), sha(BODY.subarray(0, body.length)));
  });

  it('speaks TLS: verifies certificates unless told not to', async () => {
    const { body, error } = await collect(await get('/v2/team/app/blobs/sha256:len', { tls: true }));
    assert.equal(error, undefined);
    assert.equal(sha(body), sha(BODY));
    await assert.rejects(get('/v2/team/app/blobs/sha256:len', { tls: true, verify: true }), (e: NodeJS.ErrnoException) => e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('fails a silent server with ETIMEDOUT and an aborted request with AbortError', async () => {
    await assert.rejects(get('/v2/team/app/blobs/sha256:hang', { timeoutMs: 200 }), (e: NodeJS.ErrnoException) => e.code === 'ETIMEDOUT');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(get('/v2/team/app/blobs/sha256:hang', { signal: ac.signal }), (e: Error) => e.name === 'AbortError');
  });

  describe('through RegistryClient.get({lean: true})', () => {
    const client = new RegistryClient({ retry: { attempts: 1, baseMs: 1, maxMs: 1 } });
    after(() => client.close());
    const target = (): RegistryTarget => ({ image: `${host}/team/app:v1`, ref: parseImageReference(`${host}/team/app:v1`), plainHttp: true, insecure: false });

    it('follows a redirect to another host without the registry credentials', async () => {
      const t = { ...target(), credential: { UserName: 'u', Password: 'p' } };
      const before = seen.length;
      const { body } = await collect(await client.get(t, 'team/app/blobs/sha256:moved', {}, { lean: true }));
      assert.equal(sha(body), sha(BODY));
      const store = seen.slice(before).find((s) => s.path.startsWith('/store/blob'))!;
      assert.equal(store.headers.authorization, undefined);
    });

    it('asks a chunked answer again through node:http and gets the whole body', async () => {
      const before = seen.length;
      const { body } = await collect(await client.get(target(), 'team/app/blobs/sha256:chunked', {}, { lean: true }));
      assert.equal(sha(body), sha(BODY.subarray(0, 250_000)));
      assert.equal(seen.length - before, 2, 'one lean attempt, one through node:http');
    });

    it('turns an error answer into the registry error', async () => {
      await assert.rejects(client.get(target(), 'team/app/blobs/sha256:nope', {}, { lean: true }), (e: Error & { code?: string }) => e.code === 'NotFound' && /BLOB_UNKNOWN/.test(e.message));
    });
  });
});
