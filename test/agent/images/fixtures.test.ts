// Smoke test of the image-test fixtures, checked with the real tools: images built by test/helpers/oci-image.ts
// are pushed by skopeo to docker-registry instances started by test/helpers/registry.ts (auth none, basic over
// TLS, token), and skopeo reads back exactly the digests, platforms and media types the builder reported. The
// flaky proxy is checked for counting, cutting, and down/up on the same port.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFlakyProxy, type FlakyProxy } from '../../helpers/flaky-proxy.ts';
import {
  buildImageLayout, buildIndexLayout, busyboxLayer, MEDIA_TYPES, pushImage, runSkopeo, skopeoRegistryArgs,
  type BuiltImage, type BuiltIndex, type ImageSpec,
} from '../../helpers/oci-image.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const appSpec = (): ImageSpec => ({
  layers: [
    busyboxLayer(),
    {
      entries: [
        { path: 'app/hello.txt', content: 'hello\n' },
        { path: 'app/run.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
        { path: 'etc/old', whiteout: true },
        { path: 'var/cache', opaque: true },
      ],
      compression: 'zstd',
    },
    { entries: [{ path: 'plain.txt', content: 'uncompressed layer' }], compression: 'none' },
  ],
  config: { Env: ['PATH=/bin:/usr/bin'], Cmd: ['sh', '-c', 'echo hi'], WorkingDir: '/app' },
});

interface Inspect { Digest: string; Architecture: string; Os: string; Layers: string[]; LayersData?: { MIMEType: string; Digest: string }[] }

async function inspectRaw(reg: TestRegistry, ref: string, user?: string | null, password?: string): Promise<string> {
  return runSkopeo(['inspect', '--raw', ...skopeoRegistryArgs(reg, '', user, password), `docker://${reg.host}/${ref}`]);
}

async function inspect(reg: TestRegistry, ref: string, extra: string[] = []): Promise<Inspect> {
  return JSON.parse(await runSkopeo(['inspect', ...extra, ...skopeoRegistryArgs(reg, ''), `docker://${reg.host}/${ref}`])) as Inspect;
}

describe('image test fixtures (real docker-registry + skopeo)', () => {
  const registries: TestRegistry[] = [];
  const dirs: string[] = [];
  const proxies: FlakyProxy[] = [];
  let plain: TestRegistry;
  let basicTls: TestRegistry;
  let token: TestRegistry;
  let app: BuiltImage;
  let multi: BuiltIndex;

  before(async () => {
    [plain, basicTls, token] = await Promise.all([
      startRegistry(),
      startRegistry({ auth: 'basic', tls: true, users: { alice: 'alice-pw', bob: 'bob-pw' } }),
      startRegistry({ auth: 'token' }),
    ]);
    registries.push(plain, basicTls, token);
    app = await buildImageLayout(appSpec(), { tag: 'v1' });
    dirs.push(app.dir);
    multi = await buildIndexLayout([
      { layers: [busyboxLayer()], platform: { os: 'linux', architecture: 'amd64' } },
      { layers: [busyboxLayer(), { entries: [{ path: 'arch', content: 'arm64\n' }] }], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ], { tag: 'multi' });
    dirs.push(multi.dir);
  });

  after(async () => {
    for (const p of proxies) await p.close();
    for (const r of registries) await r.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    for (const r of registries) assert.equal(existsSync(r.storageDir), false, 'destroy() removes the temp dir');
  });

  test('the builder is deterministic and writes real tar layers with OCI whiteouts', async () => {
    const again = await buildImageLayout(appSpec(), { tag: 'v1' });
    dirs.push(again.dir);
    assert.equal(again.manifestDigest, app.manifestDigest);
    assert.deepEqual(again.layerDigests, app.layerDigests);
    assert.equal(app.layerDigests.length, 3);
    const blob = (d: string) => join(app.dir, 'blobs', 'sha256', d.slice(7));
    const manifest = JSON.parse(readFileSync(blob(app.manifestDigest), 'utf8')) as { layers: { mediaType: string }[] };
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), [MEDIA_TYPES.layerGzip, MEDIA_TYPES.layerZstd, MEDIA_TYPES.layerTar]);
    const config = JSON.parse(readFileSync(blob(app.configDigest), 'utf8')) as { rootfs: { diff_ids: string[] }; config: { WorkingDir: string }; architecture: string };
    assert.deepEqual(config.rootfs.diff_ids, app.diffIds);
    assert.equal(config.config.WorkingDir, '/app');
    assert.equal(config.architecture, 'amd64');
    // GNU tar and the zstd CLI read the layers back; diff_id = sha256 of the uncompressed tar.
    const base = execFileSync('tar', ['-tzvf', blob(app.layerDigests[0])], { encoding: 'utf8' });
    assert.match(base, /^-rwxr-xr-x 0\/0 +\d+ .* \.\/bin\/busybox$/m);
    assert.match(base, /^lrwxrwxrwx .* \.\/bin\/sh -> \/bin\/busybox$/m);
    assert.match(base, /^drwxrwxrwt .* \.\/tmp\/$/m);
    const tar2 = execFileSync('zstd', ['-dc', blob(app.layerDigests[1])]);
    assert.equal(sha256(tar2), app.diffIds[1]);
    const names = execFileSync('tar', ['-t'], { input: tar2, encoding: 'utf8' }).split('\n');
    assert.ok(names.includes('./etc/.wh.old'), names.join(','));
    assert.ok(names.includes('./var/cache/.wh..wh..opq'), names.join(','));
    assert.equal(sha256(readFileSync(blob(app.layerDigests[2]))), app.diffIds[2]);
  });

  test('push to a registry without auth: skopeo reads back the builder\'s digest, config and platform', async () => {
    const { digest } = await pushImage(app.dir, plain, 'team/app:v1');
    assert.equal(digest, app.manifestDigest);
    const raw = await inspectRaw(plain, 'team/app:v1');
    assert.equal(sha256(raw), app.manifestDigest);
    assert.equal((JSON.parse(raw) as { config: { digest: string } }).config.digest, app.configDigest);
    const info = await inspect(plain, 'team/app:v1');
    assert.equal(info.Digest, app.manifestDigest);
    assert.equal(info.Os, 'linux');
    assert.equal(info.Architecture, 'amd64');
    assert.deepEqual(info.Layers, app.layerDigests);
    assert.equal(sha256(readFileSync(plain.blobPath(app.layerDigests[1]))), app.layerDigests[1]);
  });

  test('basic auth over TLS: right credentials work, anonymous and wrong password are refused', async () => {
    assert.equal(basicTls.url, `https://${basicTls.host}`);
    assert.ok(basicTls.caCertFile && existsSync(basicTls.caCertFile));
    const { digest } = await pushImage(app.dir, basicTls, 'private/app:v1', { user: 'bob' });
    assert.equal(digest, app.manifestDigest);
    assert.equal(sha256(await inspectRaw(basicTls, 'private/app:v1', 'alice')), app.manifestDigest);
    await assert.rejects(inspectRaw(basicTls, 'private/app:v1', null), /authentication required/);
    await assert.rejects(inspectRaw(basicTls, 'private/app:v1', 'alice', 'wrong-pw'), /authentication required/);
    // The certificate is really checked: without it skopeo refuses the registry.
    await assert.rejects(runSkopeo(['inspect', '--raw', '--creds', 'alice:alice-pw', `docker://${basicTls.host}/private/app:v1`]), /certificate/);
    const res = await fetch(`http://${basicTls.host}/v2/`).catch((e: Error) => e);
    assert.ok(res instanceof Error || res.status === 400, 'plain http is not served on a TLS registry');
  });

  test('token auth: Bearer challenge, JWT from the token server, 401 for a wrong password', async () => {
    const challenge = await fetch(`${token.url}/v2/`);
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="${token.tokenUrl}",service="`));
    const { digest } = await pushImage(app.dir, token, 'team/secret:v1');
    assert.equal(digest, app.manifestDigest);
    assert.equal(sha256(await inspectRaw(token, 'team/secret:v1')), app.manifestDigest);
    assert.ok(token.tokenRequests.some((r) => r.user === 'tester' && r.status === 200 && r.scopes.includes('repository:team/secret:pull,push')));
    const before401 = token.tokenRequests.length;
    await assert.rejects(inspectRaw(token, 'team/secret:v1', 'tester', 'nope'), /invalid username\/password|authentication required/);
    assert.ok(token.tokenRequests.slice(before401).some((r) => r.status === 401 && r.user === 'tester'));
    // Anonymous: the token server issues a token without access, and the registry refuses it.
    await assert.rejects(inspectRaw(token, 'team/secret:v1', null), /denied|authentication required/);
    const anon = await fetch(`${token.tokenUrl}?service=openeci-test-registry&scope=repository:team/secret:pull`);
    const jwt = ((await anon.json()) as { token: string }).token;
    const [header, claims] = jwt.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>);
    assert.equal(header.alg, 'RS256');
    assert.ok(Array.isArray(header.x5c) && header.x5c.length === 1);
    assert.deepEqual(claims.access, []);
    const refused = await fetch(`${token.url}/v2/team/secret/manifests/v1`, { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(refused.status, 401);
    assert.match(await refused.text(), /UNAUTHORIZED/);
  });

  test('a 2-platform index pushed with all=true keeps both platforms', async () => {
    const { digest } = await pushImage(multi.dir, plain, 'team/multi:multi', { all: true });
    assert.equal(digest, multi.indexDigest);
    const raw = await inspectRaw(plain, 'team/multi:multi');
    assert.equal(sha256(raw), multi.indexDigest);
    const index = JSON.parse(raw) as { mediaType: string; manifests: { digest: string; platform: { architecture: string; variant?: string } }[] };
    assert.equal(index.mediaType, MEDIA_TYPES.index);
    assert.deepEqual(index.manifests.map((m) => [m.platform.architecture, m.digest]), multi.manifests.map((m) => [m.platform.architecture, m.digest]));
    assert.equal(index.manifests[1].platform.variant, 'v8');
    const arm = await inspect(plain, 'team/multi:multi', ['--override-arch', 'arm64', '--override-variant', 'v8']);
    assert.equal(arm.Architecture, 'arm64');
    // skopeo reports the digest it was asked for (the index); the layers show which platform it chose.
    assert.equal(arm.Digest, multi.indexDigest);
    assert.deepEqual(arm.Layers, multi.manifests[1].layerDigests);
    const amd = await inspect(plain, 'team/multi:multi', ['--override-arch', 'amd64']);
    assert.deepEqual(amd.Layers, multi.manifests[0].layerDigests);
  });

  test('format v2s2 pushes Docker schema 2 media types', async () => {
    const image = await buildImageLayout({ layers: [busyboxLayer(), { entries: [{ path: 'x', content: 'y' }] }] }, { tag: 'd' });
    dirs.push(image.dir);
    const { digest } = await pushImage(image.dir, plain, 'team/docker:d', { format: 'v2s2' });
    assert.notEqual(digest, image.manifestDigest, 'conversion rewrites the manifest');
    const raw = await inspectRaw(plain, 'team/docker:d');
    assert.equal(sha256(raw), digest);
    const manifest = JSON.parse(raw) as { mediaType: string; config: { mediaType: string }; layers: { mediaType: string; digest: string }[] };
    assert.equal(manifest.mediaType, MEDIA_TYPES.dockerManifest);
    assert.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), Array(2).fill('application/vnd.docker.image.rootfs.diff.tar.gzip'));
    assert.deepEqual(manifest.layers.map((l) => l.digest), image.layerDigests, 'gzip layers are copied unchanged');
  });

  test('flaky proxy: counts requests, cuts a body, stalls, goes down and comes back on the same port', async () => {
    const [host, port] = plain.host.split(':');
    const proxy = await startFlakyProxy({ host, port: Number(port) });
    proxies.push(proxy);
    const layer = app.layerDigests[0];
    const blobUrl = `http://${proxy.host}/v2/team/app/blobs/${layer}`;
    const whole = Buffer.from(await (await fetch(blobUrl)).arrayBuffer());
    assert.equal(sha256(whole), layer);
    assert.equal(proxy.requests.length, 1);
    assert.deepEqual({ ...proxy.requests[0] }, { method: 'GET', path: `/v2/team/app/blobs/${layer}`, status: 200, bodyBytes: whole.length, cut: false });

    proxy.cutAfterBytes(100_000, (r) => r.path.includes('/blobs/'));
    const small = await fetch(`http://${proxy.host}/v2/`);
    assert.equal(small.status, 200, 'a response that does not reach the cut passes');
    await small.arrayBuffer();
    const res = await fetch(blobUrl);
    await assert.rejects(res.arrayBuffer(), 'the cut body is an error for the client');
    const cutReq = proxy.requests.at(-1);
    assert.equal(cutReq?.cut, true);
    assert.equal(cutReq?.bodyBytes, 100_000);
    const rest = await fetch(blobUrl, { headers: { range: 'bytes=100000-' } });
    assert.equal(rest.status, 206);
    assert.equal(proxy.requests.at(-1)?.range, 'bytes=100000-');
    const tail = Buffer.from(await rest.arrayBuffer());
    assert.equal(sha256(Buffer.concat([whole.subarray(0, 100_000), tail])), layer);

    await proxy.down();
    await assert.rejects(fetch(`http://${proxy.host}/v2/`));
    await proxy.up();
    assert.equal((await fetch(`http://${proxy.host}/v2/`)).status, 200);
    assert.equal(proxy.requests.length, 5);

    proxy.stall(true);
    await assert.rejects(fetch(`http://${proxy.host}/v2/`, { signal: AbortSignal.timeout(300) }), /TimeoutError|aborted/);
    proxy.stall(false);
    assert.equal((await fetch(`http://${proxy.host}/v2/`)).status, 200);
    assert.equal(proxy.requests.length, 6, 'a stalled connection never reaches the registry');
  });

  test('registry stop()/start() keeps the port and the pushed image', async () => {
    const pid = plain.pid;
    await plain.stop();
    await plain.stop();
    assert.throws(() => process.kill(pid, 0), 'the registry process is gone');
    await assert.rejects(fetch(`${plain.url}/v2/`));
    await plain.start();
    assert.notEqual(plain.pid, pid);
    assert.equal(sha256(await inspectRaw(plain, 'team/app:v1')), app.manifestDigest);
    await token.stop();
    await token.start();
    assert.equal(sha256(await inspectRaw(token, 'team/secret:v1')), app.manifestDigest);
  });
});
