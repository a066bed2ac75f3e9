// The image store without a registry: layers imported from OCI layouts and `docker save` tarballs built by
// the test fixtures (GNU tar layers), unpacked for overlayfs and mounted for real; GC, leases and removal.
// Needs root (mknod, trusted.* xattrs, overlay mounts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImageLayout, type ImageSpec } from '../../helpers/oci-image.ts';
import { ImageImportError, ImageInUseError, ImageNotFoundError, ImageStore, MAX_LOWERDIR } from '../../../src/agent/images/image-store.ts';
import { overlayLowerDirs } from '../../../src/agent/images/mounts.ts';

const work = mkdtempSync(join(tmpdir(), 'eci-imgstore-test-'));
const mounts: string[] = [];
const layouts: string[] = [];

function mountOverlay(lowerdir: string, name: string): string {
  const base = join(work, 'mnt', name);
  for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerdir},upperdir=${base}/upper,workdir=${base}/work`, `${base}/merged`]);
  mounts.push(`${base}/merged`);
  return `${base}/merged`;
}

function unmount(path: string): void {
  execFileSync('umount', [path]);
  mounts.splice(mounts.indexOf(path), 1);
}

async function layout(spec: ImageSpec, tag = 'latest'): Promise<string> {
  const built = await buildImageLayout(spec, { tag });
  layouts.push(built.dir);
  return built.dir;
}

const base: ImageSpec['layers'][number] = {
  entries: [
    { path: 'etc/keep', content: 'kept\n' },
    { path: 'etc/gone', content: 'whited out\n' },
    { path: 'data/old-1', content: 'old 1\n' },
    { path: 'data/old-2', content: 'old 2\n' },
    { path: 'bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
  ],
};

after(() => {
  for (const m of [...mounts].reverse()) execFileSync('umount', ['-l', m]);
  for (const l of layouts) rmSync(l, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('import and overlay-ready layers', () => {
  let store: ImageStore;
  before(() => {
    store = new ImageStore({ root: join(work, 'store-a') });
  });

  it('converts whiteouts so an overlay mount hides deleted files and honours opaque dirs', async () => {
    const dir = await layout({
      layers: [
        base,
        {
          compression: 'zstd',
          entries: [
            { path: 'etc/gone', whiteout: true },
            { path: 'data', opaque: true },
            { path: 'data/new', content: 'new\n' },
            { path: 'etc/added', content: 'added\n' },
          ],
        },
      ],
      config: { Cmd: ['/bin/tool'], Env: ['A=1'], WorkingDir: '/data', User: '65534' },
    });
    const [image] = await store.import(dir, { name: 'example.test/team/white:v1' });
    assert.deepEqual(image.names, ['example.test/team/white:v1']);
    assert.deepEqual(image.config, { env: ['A=1'], entrypoint: [], cmd: ['/bin/tool'], workingDir: '/data', user: '65534' });
    assert.equal(image.layers.length, 2);
    const top = image.layers[1].dir;
    const dev = lstatSync(join(top, 'etc/gone'));
    assert.ok(dev.isCharacterDevice(), 'the whiteout became a character device');
    assert.equal(dev.rdev, 0);
    assert.ok(!existsSync(join(top, 'etc/.wh.gone')));
    assert.ok(!existsSync(join(top, 'data/.wh..wh..opq')));
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(top, 'data')], { encoding: 'utf8' }), 'y');
    assert.equal(lstatSync(join(image.layers[0].dir, 'bin/tool')).mode & 0o777, 0o755);

    // Top first: the upper image layer is listed before the base.
    const parts = image.lowerdir.split(':');
    assert.equal(parts.length, 2);
    assert.equal(readFileSync(join(parts[0], 'etc/added'), 'utf8'), 'added\n');

    const merged = mountOverlay(image.lowerdir, 'white');
    try {
      assert.equal(readFileSync(join(merged, 'etc/keep'), 'utf8'), 'kept\n');
      assert.equal(readFileSync(join(merged, 'etc/added'), 'utf8'), 'added\n');
      assert.ok(!existsSync(join(merged, 'etc/gone')), 'whited-out file is hidden');
      assert.deepEqual(readdirSync(join(merged, 'data')), ['new'], 'opaque dir hides the lower layer entries');
      assert.equal(execFileSync(join(merged, 'bin/tool'), { encoding: 'utf8' }), 'tool\n');
      // The kernel's view is what GC trusts: the mount lists the store's short layer links.
      const fromKernel = overlayLowerDirs(readFileSync('/proc/self/mountinfo', 'utf8'));
      for (const p of parts) assert.ok(fromKernel.includes(p), `${p} in mountinfo`);
    } finally {
      unmount(merged);
    }
  });

  it('imports uncompressed, gzip and zstd layers and verifies their diff_ids', async () => {
    const dir = await layout({
      layers: [
        { compression: 'none', entries: [{ path: 'a', content: 'plain' }] },
        { compression: 'gzip', entries: [{ path: 'b', content: 'gzipped' }] },
        { compression: 'zstd', entries: [{ path: 'c', content: 'zstd' }] },
      ],
    });
    const [image] = await store.import(dir, { name: 'example.test/comp:v1' });
    assert.deepEqual(
      image.layers.map((l) => readdirSync(l.dir)),
      [['a'], ['b'], ['c']],
    );
    assert.equal(readFileSync(join(image.layers[2].dir, 'c'), 'utf8'), 'zstd');
    const manifest = JSON.parse(readFileSync(join(store.root, 'blobs/sha256', image.digest.slice(7)), 'utf8'));
    assert.deepEqual(
      manifest.layers.map((l: { mediaType: string }) => l.mediaType),
      ['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+zstd'],
    );
    assert.ok(image.unpackedSize >= 3 * 1024 && image.size > 0);
    assert.equal(store.get('example.test/comp:v1')?.digest, image.digest);
    assert.equal(store.get(image.digest)?.digest, image.digest);
    assert.equal(store.get(image.digest.slice(7, 19))?.digest, image.digest, 'a 12-hex prefix finds the image');
    assert.equal(store.get(`example.test/comp@${image.digest}`)?.digest, image.digest);
    assert.equal(store.get('example.test/comp:v2'), undefined);
  });

  it('rejects a corrupted layer blob and leaves nothing behind', async () => {
    const built = await buildImageLayout({ layers: [{ compression: 'none', entries: [{ path: 'x', content: 'original' }] }] });
    layouts.push(built.dir);
    const blob = join(built.dir, 'blobs/sha256', built.layerDigests[0].slice(7));
    const bytes = readFileSync(blob);
    bytes[600] ^= 0xff; // inside the file content of the tar
    writeFileSync(blob, bytes);
    await assert.rejects(store.import(built.dir, { name: 'example.test/corrupt:v1' }), (e: unknown) => {
      assert.ok(e instanceof ImageImportError);
      assert.match(e.message, new RegExp(`expected ${built.layerDigests[0]}`));
      return true;
    });
    assert.equal(store.get('example.test/corrupt:v1'), undefined);
    assert.ok(!existsSync(join(store.root, 'layers', built.diffIds[0].slice(7))));
    assert.deepEqual(readdirSync(join(store.root, 'layers')).filter((n) => n.includes('.tmp-')), []);
    assert.deepEqual(readdirSync(join(store.root, 'ingest')), []);
    assert.ok(!existsSync(join(store.root, 'blobs/sha256', built.layerDigests[0].slice(7))));
  });

  it('imports a docker save tarball (skopeo docker-archive)', async () => {
    const dir = await layout({ layers: [base, { entries: [{ path: 'etc/hello', content: 'from archive\n' }] }], config: { Entrypoint: ['/bin/tool'] } }, 'v3');
    const tarball = join(work, 'image.tar');
    execFileSync('skopeo', ['copy', '--quiet', `oci:${dir}:v3`, `docker-archive:${tarball}:example.test/team/archived:v3`]);
    const [image] = await store.import(tarball);
    assert.deepEqual(image.names, ['example.test/team/archived:v3']);
    assert.deepEqual(image.config.entrypoint, ['/bin/tool']);
    assert.equal(readFileSync(join(image.layers[1].dir, 'etc/hello'), 'utf8'), 'from archive\n');
    const merged = mountOverlay(image.lowerdir, 'archived');
    try {
      assert.equal(readFileSync(join(merged, 'etc/hello'), 'utf8'), 'from archive\n');
      assert.equal(readFileSync(join(merged, 'etc/keep'), 'utf8'), 'kept\n');
    } finally {
      unmount(merged);
    }
    // A name given on the command line wins over the archive's RepoTags.
    const [renamed] = await store.import(tarball, { name: 'example.test/renamed:1' });
    assert.equal(renamed.digest, image.digest);
    assert.deepEqual(store.get(image.digest)?.names, ['example.test/renamed:1', 'example.test/team/archived:v3']);
    await assert.rejects(store.import(join(work, 'nope.tar')), ImageImportError);
  });

  it('mounts an image of 40 layers within one mount-option page', async () => {
    const layers = Array.from({ length: 40 }, (_, i) => ({ compression: 'none' as const, entries: [{ path: `f${i}`, content: `layer ${i}` }] }));
    const dir = await layout({ layers });
    const [image] = await store.import(dir, { name: 'example.test/deep:v1' });
    assert.equal(image.layers.length, 40);
    assert.ok(image.lowerdir.length <= MAX_LOWERDIR, `${image.lowerdir.length} bytes`);
    const merged = mountOverlay(image.lowerdir, 'deep');
    try {
      assert.equal(readdirSync(merged).length, 40);
      assert.equal(readFileSync(join(merged, 'f39'), 'utf8'), 'layer 39');
    } finally {
      unmount(merged);
    }
    const deepRoot = join(work, 'x'.repeat(200));
    const deepStore = new ImageStore({ root: deepRoot });
    await assert.rejects(deepStore.import(dir), (e: unknown) => e instanceof ImageImportError && /40 layers.*exceeds/.test(e.message));
  });
});

describe('gc, leases and removal', () => {
  let store: ImageStore;
  let a: string;
  let b: string;
  let c: string;
  before(async () => {
    store = new ImageStore({ root: join(work, 'store-gc') });
    const shared = { entries: [{ path: 'shared', content: 'base layer'.repeat(100) }] };
    a = (await store.import(await layout({ layers: [shared, { entries: [{ path: 'a', content: 'A'.repeat(5000) }] }] }), { name: 'example.test/a:1' }))[0].digest;
    b = (await store.import(await layout({ layers: [shared, { entries: [{ path: 'b', content: 'B'.repeat(5000) }] }] }), { name: 'example.test/b:1' }))[0].digest;
    c = (await store.import(await layout({ layers: [{ entries: [{ path: 'c', content: 'C' }] }] }), { name: 'example.test/c:1' }))[0].digest;
  });

  it('keeps a leased image and removes unleased ones, least recently used first, within the budget', async () => {
    store.lease(a, 'group-1/app');
    store.touch(b); // b is used more recently than c
    const cLayer = store.get(c)!.layers[0].dir;
    const bImage = store.get(b)!;
    const bTop = bImage.layers[1].dir;
    // One byte over budget: only c (the least recently used unleased image) goes.
    const used = store.usedBytes();
    assert.equal(used, (await store.gc({ budgetBytes: used })).freedBytes + used, 'within budget nothing goes');
    assert.equal(store.list().length, 3);
    const first = await store.gc({ budgetBytes: used - 1 });
    assert.deepEqual(first.removedImages, [c]);
    assert.ok(first.freedBytes > 0);
    assert.equal(store.usedBytes(), used - first.freedBytes);
    assert.ok(!existsSync(cLayer));
    assert.equal(store.get('example.test/c:1'), undefined);

    const second = await store.gc({ budgetBytes: 0 });
    assert.deepEqual(second.removedImages, [b]);
    assert.ok(!existsSync(bTop), "b's own layer is deleted");
    assert.ok(existsSync(bImage.layers[0].dir), 'the layer shared with leased a is kept');
    assert.ok(store.get('example.test/a:1'), 'the leased image survives a zero budget');
    assert.deepEqual(store.list().map((i) => i.digest), [a]);
    await assert.rejects(store.remove('example.test/a:1'), (e: unknown) => e instanceof ImageInUseError && e.holders.includes('lease group-1/app'));
    store.release('group-1/app');
    assert.deepEqual((await store.gc({ budgetBytes: 0 })).removedImages, [a]);
    assert.deepEqual(readdirSync(join(store.root, 'layers')), []);
    assert.deepEqual(readdirSync(join(store.root, 'l')).filter((n) => n !== 'empty'), []);
  });

  it('never deletes layers under a mounted overlay, even of an unleased image; remove refuses, force untags', async () => {
    const [img] = await store.import(await layout({ layers: [{ entries: [{ path: 'm', content: 'mounted' }] }] }), { name: 'example.test/m:1' });
    const merged = mountOverlay(img.lowerdir, 'gc-mounted');
    try {
      assert.deepEqual((await store.gc({ budgetBytes: 0 })).removedImages, []);
      await assert.rejects(store.remove('example.test/m:1'), (e: unknown) => e instanceof ImageInUseError && e.holders.includes('a mounted overlay'));
      await store.remove('example.test/m:1', { force: true });
      assert.deepEqual(store.get(img.digest)?.names, [], 'force removes the name, the content stays while mounted');
      assert.equal(readFileSync(join(merged, 'm'), 'utf8'), 'mounted');
      await store.gc({ budgetBytes: 0 });
      assert.ok(existsSync(img.layers[0].dir), 'GC keeps a mounted layer');
    } finally {
      unmount(merged);
    }
    assert.deepEqual((await store.gc({ budgetBytes: 0 })).removedImages, [img.digest], 'after the unmount the nameless image goes');
    assert.ok(!existsSync(img.layers[0].dir));
  });

  it('removes by name, keeps content while another name points to it, and reports unknown images', async () => {
    const dir = await layout({ layers: [{ entries: [{ path: 'r', content: 'r' }] }] });
    const [img] = await store.import(dir, { name: 'example.test/r:1' });
    await store.import(dir, { name: 'example.test/r:2' });
    assert.deepEqual(store.get(img.digest)?.names, ['example.test/r:1', 'example.test/r:2']);
    store.lease(img.digest, 'g/c');
    await store.remove('example.test/r:1'); // untagging one of two names is allowed while in use
    assert.deepEqual(store.get(img.digest)?.names, ['example.test/r:2']);
    store.release('g/c');
    await store.remove('example.test/r:2');
    assert.equal(store.get(img.digest), undefined);
    assert.ok(!existsSync(img.layers[0].dir));
    assert.ok(!existsSync(join(store.root, 'blobs/sha256', img.digest.slice(7))));
    await assert.rejects(store.remove('example.test/r:1'), ImageNotFoundError);
  });
});
