// Registry behaviours a real distribution server does not produce on demand, from a scripted registry
// (node:http serving a fixture-built OCI layout): a 200 that ignores Range, 429/5xx with back-off and a
// bounded number of attempts, a token that expires early, and challenge parsing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImageLayout, randomLayer, type BuiltImage } from '../../helpers/oci-image.ts';
import { ImagePullError, ImageStore } from '../../../src/agent/images/image-store.ts';
import { parseChallenge, registryErrorText } from '../../../src/agent/images/registry-client.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, serve: () => void) => void;

const work = mkdtempSync(join(tmpdir(), 'eci-regclient-test-'));
let image: BuiltImage;
let server: Server;
let host: string;
let handler: Handler;
const seen: { path: string; range?: string; auth?: string }[] = [];
let n = 0;
const newStore = (attempts = 4) => new ImageStore({ root: join(work, `store-${++n}`), retry: { attempts, baseMs: 20, maxMs: 80 } });

/** Serves the layout: manifests by tag or digest, blobs by digest, honouring Range. */
function serveLayout(req: IncomingMessage, res: ServerResponse): void {
  const m = /^\/v2\/test\/img\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
  if (req.url === '/v2/' || req.url === '/v2') return void res.writeHead(200).end('{}');
  if (!m) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
  const digest = m[1] === 'manifests' && m[2] === 'v1' ? image.manifestDigest : m[2];
  const body = readFileSync(join(image.dir, 'blobs/sha256', digest.replace('sha256:', '')));
  const type = m[1] === 'manifests' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/octet-stream';
  const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
  if (range && m[1] === 'blobs') {
    const from = Number(range[1]);
    res.writeHead(206, { 'content-type': type, 'content-length': body.length - from, 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
    return void res.end(body.subarray(from));
  }
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'docker-content-digest': digest });
  res.end(body);
}

before(async () => {
  image = await buildImageLayout({ layers: [randomLayer(600 * 1024, 7), { compression: 'zstd', entries: [{ path: 'etc/motd', content: 'hello\n' }] }], config: { Cmd: ['sh'] } });
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}), ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    handler(req, res, () => serveLayout(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(image.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const blobPath = () => `/v2/test/img/blobs/${image.layerDigests[0]}`;

describe('scripted registry', () => {
  it('resumes after a truncated body even when the registry answers the Range request with a full 200', async () => {
    seen.length = 0;
    let blobGets = 0;
    handler = (req, res, serve) => {
      if (req.url !== blobPath()) return serve();
      blobGets++;
      const body = readFileSync(join(image.dir, 'blobs/sha256', image.layerDigests[0].slice(7)));
      // Both answers ignore Range: a truncated first one (the declared length is never reached), then a full 200.
      res.writeHead(200, { 'content-length': body.length });
      if (blobGets === 1) {
        res.write(body.subarray(0, 200 * 1024), () => res.destroy());
        return;
      }
      res.end(body);
    };
    const store = newStore();
    const r = await store.pull(`${host}/test/img:v1`, { plainHttpRegistries: [host] });
    assert.equal(r.image.digest, image.manifestDigest);
    const gets = seen.filter((s) => s.path === blobPath());
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, undefined);
    assert.match(gets[1].range ?? '', /^bytes=\d+-$/);
    assert.equal(readdirSync(join(r.image.layers[0].dir, 'data')).length, 1);
    assert.equal(readFileSync(join(r.image.layers[1].dir, 'etc/motd'), 'utf8'), 'hello\n');
    // Only the skipped prefix of the 200 was thrown away; the verified blob is the whole layer.
    const blob = readFileSync(join(store.root, 'blobs/sha256', image.layerDigests[0].slice(7)));
    assert.equal(`sha256:${createHash('sha256').update(blob).digest('hex')}`, image.layerDigests[0]);
  });

  it('retries 429 and 503 with back-off, then succeeds', async () => {
    seen.length = 0;
    let failures = 0;
    handler = (req, res, serve) => {
      if (req.url === blobPath() && failures < 2) {
        failures++;
        res.writeHead(failures === 1 ? 429 : 503, { 'content-type': 'application/json', 'retry-after': '0' });
        return void res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      }
      serve();
    };
    const r = await newStore().pull(`${host}/test/img:v1`, { plainHttpRegistries: [host] });
    assert.equal(r.image.digest, image.manifestDigest);
    assert.equal(seen.filter((s) => s.path === blobPath()).length, 3);
  });

  it('gives up after the configured attempts with Unavailable and the registry message', async () => {
    seen.length = 0;
    handler = (req, res, serve) => {
      if (req.url?.includes('/manifests/')) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"storage backend down"}]}');
      serve();
    };
    await assert.rejects(newStore(3).pull(`${host}/test/img:v1`, { plainHttpRegistries: [host] }), (e: unknown) => {
      assert.ok(e instanceof ImagePullError);
      assert.equal(e.code, 'Unavailable');
      assert.equal(e.retryable, true);
      assert.equal(e.status, 500);
      assert.match(e.message, /answered 500 UNKNOWN: storage backend down/);
      return true;
    });
    assert.equal(seen.length, 3, 'exactly the configured attempts');
  });

  it('renews a cached token the registry stops accepting, once', async () => {
    seen.length = 0;
    let issued = 0;
    const valid = new Set<string>();
    handler = (req, res, serve) => {
      if (req.url?.startsWith('/token')) {
        const token = `tok-${++issued}`;
        valid.add(token);
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      }
      const auth = String(req.headers.authorization ?? '');
      if (!valid.has(auth.replace('Bearer ', ''))) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': `Bearer realm="http://${host}/token",service="test",scope="repository:test/img:pull"` });
        return void res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
      serve();
    };
    const store = newStore();
    await store.pull(`${host}/test/img:v1`, { plainHttpRegistries: [host] });
    assert.equal(issued, 1, 'one token for the whole pull');
    valid.clear(); // the registry forgets its tokens (rotated key, early expiry)
    const again = await store.pull(`${host}/test/img:v1`, { plainHttpRegistries: [host] });
    assert.equal(again.alreadyPresent, true);
    assert.equal(issued, 2, 'one new token');
    // A token that is refused right after being issued is final: Unauthorized, no loop.
    handler = (req, res) => {
      if (req.url?.startsWith('/token')) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `tok-${++issued}` }));
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="test"` });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"no access"}]}');
    };
    seen.length = 0;
    await assert.rejects(store.pull(`${host}/test/img:v1`, { plainHttpRegistries: [host] }), (e: unknown) => e instanceof ImagePullError && e.code === 'Unauthorized' && /UNAUTHORIZED: no access/.test(e.message));
    assert.equal(seen.filter((s) => s.path.startsWith('/token')).length, 1);
    assert.equal(seen.filter((s) => s.path.startsWith('/v2/')).length, 2);
  });

  it('a pull that joined another pull\'s layer download survives that pull being cancelled', async () => {
    seen.length = 0;
    const held: (() => void)[] = [];
    let release = false;
    handler = (req, res, serve) => {
      if (req.url === blobPath() && !release) return void held.push(serve);
      serve();
    };
    const store = newStore();
    const ac = new AbortController();
    const a = store.pull(`${host}/test/img:v1`, { plainHttpRegistries: [host], signal: ac.signal });
    while (!seen.some((s) => s.path === blobPath())) await new Promise((r) => setTimeout(r, 5));
    const b = store.pull(`${host}/test/img:v1`, { plainHttpRegistries: [host] });
    await new Promise((r) => setTimeout(r, 50)); // b has resolved its manifest and joined a's layer job
    ac.abort();
    await assert.rejects(a, (e: unknown) => e instanceof ImagePullError && e.code === 'Aborted');
    release = true;
    for (const serve of held) serve();
    const r = await b;
    assert.equal(r.image.digest, image.manifestDigest);
    assert.equal(seen.filter((s) => s.path === blobPath()).length, 2, "a's cancelled request and b's own");
  });

  it('parses challenges and registry error bodies', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'), {
      scheme: 'bearer',
      params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' },
    });
    assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', params: { realm: 'Registry Realm' } });
    assert.equal(registryErrorText('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'), 'DENIED: requested access to the resource is denied');
    assert.equal(registryErrorText('{"details":"incorrect username or password"}'), 'incorrect username or password');
    assert.equal(registryErrorText('<html>bad gateway</html>'), '');
  });
});
