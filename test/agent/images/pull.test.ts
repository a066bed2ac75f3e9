// Pulls from a real registry (Debian's docker-registry on loopback, plain HTTP) with images built and pushed by
// the fixtures: manifests and indexes, media types, compressions, digest checks, resume and retry through a
// proxy that cuts and goes down, and single-flight downloads. Needs root (the store unpacks as root).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startFlakyProxy, type FlakyProxy } from '../../helpers/flaky-proxy.ts';
import { buildImageLayout, buildIndexLayout, pushImage, randomLayer, type ImageSpec } from '../../helpers/oci-image.ts';
import { ImagePullError, ImageStore, type PullProgress } from '../../../src/agent/images/image-store.ts';

const work = mkdtempSync(join(tmpdir(), 'eci-pull-test-'));
const layouts: string[] = [];
let reg: TestRegistry;
let proxy: FlakyProxy;
let n = 0;
const newStore = (retry = { attempts: 5, baseMs: 50, maxMs: 1000 }) => new ImageStore({ root: join(work, `store-${++n}`), retry, requestTimeoutMs: 10_000 });

async function push(spec: ImageSpec, repoAndTag: string, format?: 'oci' | 'v2s2') {
  const built = await buildImageLayout(spec);
  layouts.push(built.dir);
  const { digest } = await pushImage(built.dir, reg, repoAndTag, { tag: 'latest', ...(format ? { format } : {}) });
  return { ...built, pushed: digest };
}

const appSpec: ImageSpec = {
  layers: [
    { entries: [{ path: 'etc/os-release', content: 'ID=test\n' }, { path: 'bin/run', content: '#!/bin/sh\necho run\n', mode: 0o755 }] },
    { entries: [{ path: 'app/config.json', content: '{"v":1}' }, { path: 'etc/os-release', whiteout: true }] },
  ],
  config: { Env: ['PATH=/bin', 'MODE=test'], Entrypoint: ['/bin/run'], Cmd: ['--serve'], WorkingDir: '/app', User: '1000:1000' },
};

before(async () => {
  reg = await startRegistry();
  const [host, port] = reg.host.split(':');
  proxy = await startFlakyProxy({ host, port: Number(port) });
});

after(async () => {
  await proxy?.close();
  await reg?.destroy();
  for (const l of layouts) rmSync(l, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('pull', () => {
  it('pulls an OCI image: files, config, digests, progress; a second pull finds it present', async () => {
    const built = await push(appSpec, 'team/app:v1');
    const store = newStore();
    const progress: PullProgress[] = [];
    const r = await store.pull(`${reg.host}/team/app:v1`, { plainHttpRegistries: [reg.host], onProgress: (p) => progress.push(p) });
    assert.equal(r.alreadyPresent, false);
    assert.equal(r.image.digest, built.manifestDigest);
    assert.equal(r.image.digest, built.pushed);
    assert.equal(r.image.configDigest, built.configDigest);
    assert.deepEqual(r.image.names, [`${reg.host}/team/app:v1`]);
    assert.deepEqual(r.image.platform, { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(r.image.config, { env: ['PATH=/bin', 'MODE=test'], entrypoint: ['/bin/run'], cmd: ['--serve'], workingDir: '/app', user: '1000:1000' });
    assert.deepEqual(r.image.layers.map((l) => l.digest), built.layerDigests);
    assert.deepEqual(r.image.layers.map((l) => l.diffId), built.diffIds);
    assert.equal(r.image.size, built.layerSizes[0] + built.layerSizes[1]);
    assert.equal(r.downloadedBytes, r.image.size);
    assert.equal(readFileSync(join(r.image.layers[1].dir, 'app/config.json'), 'utf8'), '{"v":1}');
    assert.ok(readdirSync(join(r.image.layers[1].dir, 'etc')).includes('os-release'), 'whiteout device present');
    for (const d of [...built.layerDigests, built.configDigest, built.manifestDigest]) assert.ok(existsSync(join(store.root, 'blobs/sha256', d.slice(7))), d);
    assert.deepEqual(readdirSync(join(store.root, 'ingest')), []);
    assert.equal(progress[0].phase, 'resolving');
    assert.equal(progress.at(-1)!.phase, 'done');
    assert.equal(progress.at(-1)!.imageDownloadedBytes, r.image.size);
    assert.equal(progress.at(-1)!.imageTotalBytes, r.image.size);

    const again = await store.pull(`${reg.host}/team/app:v1`, { plainHttpRegistries: [reg.host] });
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.downloadedBytes, 0);
    assert.equal(again.image.digest, r.image.digest);
    const byDigest = await store.pull(`${reg.host}/team/app@${built.manifestDigest}`, { plainHttpRegistries: [reg.host] });
    assert.equal(byDigest.alreadyPresent, true);
    assert.deepEqual(store.get(built.manifestDigest)?.names, [`${reg.host}/team/app:v1`, `${reg.host}/team/app@${built.manifestDigest}`]);
  });

  it('chooses linux/amd64 from a multi-platform index by default, arm64 when asked, and lists what exists otherwise', async () => {
    const index = await buildIndexLayout([
      { layers: [{ entries: [{ path: 'arch', content: 'amd64' }] }], platform: { os: 'linux', architecture: 'amd64' } },
      { layers: [{ entries: [{ path: 'arch', content: 'arm64' }] }], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]);
    layouts.push(index.dir);
    await pushImage(index.dir, reg, 'team/multi:v1', { all: true, tag: 'latest' });
    const store = newStore();
    const opts = { plainHttpRegistries: [reg.host] };
    const amd = await store.pull(`${reg.host}/team/multi:v1`, opts);
    assert.equal(amd.image.digest, index.manifests[0].digest);
    assert.equal(amd.image.indexDigest, index.indexDigest);
    assert.equal(readFileSync(join(amd.image.layers[0].dir, 'arch'), 'utf8'), 'amd64');
    const arm = await store.pull(`${reg.host}/team/multi:v1`, { ...opts, platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal(arm.image.digest, index.manifests[1].digest);
    assert.deepEqual(arm.image.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.equal(readFileSync(join(arm.image.layers[0].dir, 'arch'), 'utf8'), 'arm64');
    await assert.rejects(store.pull(`${reg.host}/team/multi:v1`, { ...opts, platform: { os: 'linux', architecture: 's390x' } }), (e: unknown) => {
      assert.ok(e instanceof ImagePullError);
      assert.equal(e.code, 'NotFound');
      assert.equal(e.retryable, false);
      assert.match(e.message, /linux\/s390x.*available: linux\/amd64, linux\/arm64\/v8/);
      return true;
    });
  });

  it('unpacks gzip, zstd and uncompressed layers, and Docker schema 2 images', async () => {
    const built = await push(
      {
        layers: [
          { compression: 'none', entries: [{ path: 'plain', content: 'p' }] },
          { compression: 'gzip', entries: [{ path: 'gz', content: 'g' }] },
          { compression: 'zstd', entries: [{ path: 'zst', content: 'z' }] },
        ],
      },
      'team/comp:v1',
    );
    const store = newStore();
    const r = await store.pull(`${reg.host}/team/comp:v1`, { plainHttpRegistries: [reg.host] });
    assert.deepEqual(r.image.layers.map((l) => readdirSync(l.dir)), [['plain'], ['gz'], ['zst']]);
    const manifest = JSON.parse(readFileSync(join(store.root, 'blobs/sha256', built.manifestDigest.slice(7)), 'utf8'));
    assert.deepEqual(manifest.layers.map((l: { mediaType: string }) => l.mediaType.split('.').at(-1)), ['tar', 'tar+gzip', 'tar+zstd']);

    const docker = await push(appSpec, 'team/docker:v1', 'v2s2');
    const d = await store.pull(`${reg.host}/team/docker:v1`, { plainHttpRegistries: [reg.host] });
    assert.equal(d.image.digest, docker.pushed);
    const dm = JSON.parse(readFileSync(join(store.root, 'blobs/sha256', docker.pushed.slice(7)), 'utf8'));
    assert.equal(dm.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(dm.layers[0].mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    assert.deepEqual(d.image.config.entrypoint, ['/bin/run']);
    assert.equal(readFileSync(join(d.image.layers[1].dir, 'app/config.json'), 'utf8'), '{"v":1}');
  });

  it('reports unknown tags and repositories as NotFound with the registry message', async () => {
    const store = newStore();
    await assert.rejects(store.pull(`${reg.host}/team/app:nope`, { plainHttpRegistries: [reg.host] }), (e: unknown) => {
      assert.ok(e instanceof ImagePullError);
      assert.equal(e.code, 'NotFound');
      assert.equal(e.status, 404);
      assert.match(e.message, /MANIFEST_UNKNOWN: manifest unknown/);
      assert.ok(e.message.includes(reg.host));
      return true;
    });
    await assert.rejects(store.pull(`${reg.host}/nobody/here:v1`, { plainHttpRegistries: [reg.host] }), (e: unknown) => e instanceof ImagePullError && e.code === 'NotFound' && /(NAME|MANIFEST)_UNKNOWN/.test(e.message));
    await assert.rejects(store.pull('Bad Name'), (e: unknown) => e instanceof ImagePullError && e.code === 'InvalidReference');
  });

  it('catches a corrupted blob as DigestMismatch and discards the bytes', async () => {
    const built = await push({ layers: [{ compression: 'none', entries: [{ path: 'x', content: 'x'.repeat(3000) }] }] }, 'team/corrupt:v1');
    const path = reg.blobPath(built.layerDigests[0]);
    const bytes = readFileSync(path);
    bytes[1000] ^= 0x55;
    writeFileSync(path, bytes);
    const store = newStore();
    await assert.rejects(store.pull(`${reg.host}/team/corrupt:v1`, { plainHttpRegistries: [reg.host] }), (e: unknown) => {
      assert.ok(e instanceof ImagePullError);
      assert.equal(e.code, 'DigestMismatch');
      assert.ok(e.message.includes(built.layerDigests[0]), e.message);
      return true;
    });
    assert.equal(store.get(`${reg.host}/team/corrupt:v1`), undefined);
    assert.deepEqual(readdirSync(join(store.root, 'ingest')), [], 'no partial download kept');
    assert.deepEqual(readdirSync(join(store.root, 'layers')), [], 'no layer (or temporary layer) kept');
    assert.ok(!existsSync(join(store.root, 'blobs/sha256', built.layerDigests[0].slice(7))));
  });
});

describe('resilience and single-flight (through a flaky proxy)', () => {
  let big: Awaited<ReturnType<typeof push>>;
  before(async () => {
    big = await push({ layers: [randomLayer(3 * 1024 * 1024, 1), { entries: [{ path: 'small', content: 's' }] }, randomLayer(2 * 1024 * 1024, 2)] }, 'team/big:v1');
  });

  it('resumes a cut download with a Range request', async () => {
    const store = newStore();
    proxy.requests.length = 0;
    proxy.cutAfterBytes(1024 * 1024, (r) => r.path.includes(`/blobs/${big.layerDigests[0]}`));
    const r = await store.pull(`${proxy.host}/team/big:v1`, { plainHttpRegistries: [proxy.host] });
    assert.equal(r.image.digest, big.manifestDigest);
    const gets = proxy.requests.filter((q) => q.path.endsWith(`/blobs/${big.layerDigests[0]}`));
    assert.equal(gets.length, 2, 'one cut request and one resume');
    assert.equal(gets[0].cut, true);
    // The resume point is what reached the store before the reset (at most what the proxy let through).
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    assert.ok(from > 0 && from <= 1024 * 1024, `resumed from ${gets[1].range}`);
    assert.equal(gets[1].status, 206);
    assert.equal(gets[1].bodyBytes, big.layerSizes[0] - from);
    assert.equal(r.downloadedBytes, r.image.size, 'no byte downloaded twice');
    assert.equal(readdirSync(join(r.image.layers[0].dir, 'data')).length, 1);
  });

  it('survives the registry going down mid-pull and coming back', async () => {
    const store = newStore({ attempts: 8, baseMs: 100, maxMs: 1000 });
    proxy.requests.length = 0;
    let downed = false;
    let upTimer: NodeJS.Timeout | undefined;
    // The blob's response is cut after 1 MiB and the whole registry goes away a moment later, before the
    // store's first retry (≥ 100 ms back-off); it comes back 800 ms later, after several refused attempts.
    proxy.cutAfterBytes(1024 * 1024, (q) => {
      if (downed || !q.path.endsWith(`/blobs/${big.layerDigests[0]}`)) return false;
      downed = true;
      setTimeout(() => {
        void proxy.down();
        upTimer = setTimeout(() => void proxy.up(), 800);
      }, 5);
      return true;
    });
    const started = Date.now();
    const r = await store.pull(`${proxy.host}/team/big:v1`, { plainHttpRegistries: [proxy.host] });
    clearTimeout(upTimer);
    await proxy.up();
    assert.ok(Date.now() - started >= 800, 'the pull waited for the registry to come back');
    assert.ok(downed, 'the proxy went down during the download');
    assert.equal(r.image.digest, big.manifestDigest);
    const ranged = proxy.requests.filter((q) => q.range && q.status === 206);
    assert.ok(ranged.length >= 1, 'a Range request resumed a blob');
    assert.deepEqual(r.image.layers.map((l) => l.diffId), big.diffIds);
  });

  it('a pull that gives up keeps the partial blob, and the next pull resumes it', async () => {
    const store = newStore({ attempts: 2, baseMs: 10, maxMs: 10 });
    const layer = big.layerDigests[2];
    let downing: Promise<void> | undefined;
    // The cut or the outage, whichever comes first, ends the body; the matcher fires once so that an
    // unconsumed cut cannot hit the next pull.
    proxy.cutAfterBytes(700 * 1024, (q) => {
      if (downing || !q.path.endsWith(`/blobs/${layer}`)) return false;
      downing = new Promise((resolve) => setTimeout(() => void proxy.down().then(resolve), 1));
      return true;
    });
    try {
      await assert.rejects(store.pull(`${proxy.host}/team/big:v1`, { plainHttpRegistries: [proxy.host] }), (e: unknown) => {
        assert.ok(e instanceof ImagePullError);
        assert.equal(e.code, 'Unavailable');
        assert.equal(e.retryable, true);
        assert.match(e.message, new RegExp(proxy.host.replace(/\./g, '\\.')));
        return true;
      });
    } finally {
      await downing;
      await proxy.up();
    }
    const partial = join(store.root, 'ingest', `${layer.slice(7)}.partial`);
    const kept = statSync(partial).size;
    assert.ok(kept > 0 && kept <= 700 * 1024, `kept ${kept} bytes`);
    assert.equal(store.get(`${proxy.host}/team/big:v1`), undefined);
    proxy.requests.length = 0;
    const r = await store.pull(`${proxy.host}/team/big:v1`, { plainHttpRegistries: [proxy.host] });
    const resumed = proxy.requests.filter((q) => q.path.endsWith(`/blobs/${layer}`));
    assert.deepEqual(resumed.map((q) => [q.range, q.status]), [[`bytes=${kept}-`, 206]]);
    assert.equal(r.image.layers[2].diffId, big.diffIds[2]);
    assert.ok(!existsSync(partial));
    assert.deepEqual(readdirSync(join(store.root, 'ingest')), []);
  });

  it('an aborted pull stops at once with Aborted and leaves no unpacker behind', async () => {
    const store = newStore();
    proxy.stall(true);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 200);
    try {
      await assert.rejects(store.pull(`${proxy.host}/team/big:v1`, { plainHttpRegistries: [proxy.host], signal: ac.signal }), (e: unknown) => {
        assert.ok(e instanceof ImagePullError);
        assert.equal(e.code, 'Aborted');
        assert.equal(e.retryable, false);
        return true;
      });
    } finally {
      clearTimeout(timer);
      proxy.stall(false);
    }
    assert.deepEqual(readdirSync(join(store.root, 'layers')), []);
  });

  it('downloads each blob once for two concurrent pulls of one image, and shared layers once across images', async () => {
    const other = await push({ layers: [randomLayer(3 * 1024 * 1024, 1), { entries: [{ path: 'other', content: 'o' }] }] }, 'team/other:v1');
    assert.equal(other.layerDigests[0], big.layerDigests[0], 'the fixtures share the base layer');
    const store = newStore();
    proxy.requests.length = 0;
    const opts = { plainHttpRegistries: [proxy.host] };
    const [r1, r2, r3] = await Promise.all([
      store.pull(`${proxy.host}/team/big:v1`, opts),
      store.pull(`${proxy.host}/team/big:v1`, opts),
      store.pull(`${proxy.host}/team/other:v1`, opts),
    ]);
    assert.equal(r1.image.digest, r2.image.digest);
    assert.equal(r3.image.layers[0].dir, r1.image.layers[0].dir);
    const blobGets = proxy.requests.filter((q) => q.path.includes('/blobs/')).map((q) => q.path.split('/blobs/')[1]);
    const counts = new Map<string, number>();
    for (const b of blobGets) counts.set(b, (counts.get(b) ?? 0) + 1);
    for (const d of [...big.layerDigests, ...other.layerDigests.slice(1)]) assert.equal(counts.get(d), 1, `layer ${d} fetched once`);
    assert.equal(r1.downloadedBytes + r2.downloadedBytes + r3.downloadedBytes, r1.image.size + other.layerSizes[1], 'total transfer = distinct layers');
  });
});
