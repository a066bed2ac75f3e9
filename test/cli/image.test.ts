// `eci image pull|ls|rm|import|gc` run as a user runs them (bin/eci, a store of the test's own via
// --image-store), against real registries on loopback (Debian's docker-registry) serving images built and
// pushed by real tools (GNU tar, skopeo). Needs root: layers are unpacked with owners, device nodes and xattrs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageStore } from '../../src/agent/images/image-store.ts';
import { formatBytes, imageStoreDir, parseSize } from '../../src/cli/verbs/image.ts';
import { buildImageLayout, buildIndexLayout, busyboxLayer, pushImage, runSkopeo, type BuiltImage, type ImageSpec } from '../helpers/oci-image.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { BIN } from '../helpers/server.ts';
import { eci, emptyDir, ok, parseTable, type CliRun } from './run-cli.ts';

interface JsonImage {
  names: string[];
  digest: string;
  configDigest: string;
  platform: { os: string; architecture: string; variant?: string };
  layers: { digest: string; diffId: string; size: number }[];
  size: number;
  unpackedSize: number;
  leases: string[];
}

const work = mkdtempSync(join(tmpdir(), 'eci-image-cli-'));
const registries: TestRegistry[] = [];
const layouts: string[] = [];

after(async () => {
  for (const r of registries) await r.destroy();
  for (const l of layouts) rmSync(l, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

async function layout(spec: ImageSpec, tag = 'latest'): Promise<BuiltImage> {
  const built = await buildImageLayout(spec, { tag });
  layouts.push(built.dir);
  return built;
}

/** bin/eci with standard input (for --password-stdin), in the same clean environment as run-cli's eci(). */
function eciWithInput(args: readonly string[], input: string): CliRun {
  const home = emptyDir('eci-home-');
  const r = spawnSync(BIN, args, { input, encoding: 'utf8', cwd: home, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home }, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const appSpec = (marker: string): ImageSpec => ({
  layers: [busyboxLayer(), { entries: [{ path: 'app/marker', content: `${marker}\n` }, { path: 'app/run.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755 }] }],
  config: { Cmd: ['/app/run.sh'], Env: ['PATH=/bin:/sbin'] },
});

function lsJson(store: string): JsonImage[] {
  return JSON.parse(ok(['image', 'ls', '--image-store', store, '--json'])) as JsonImage[];
}

describe('eci image pull and ls (plain-http registry)', () => {
  let registry: TestRegistry;
  let built: BuiltImage;
  let pushed: string;
  let name: string;
  const store = join(work, 'pull-store');
  before(async () => {
    registry = await startRegistry();
    registries.push(registry);
    built = await layout(appSpec('pull'), 'v1');
    pushed = (await pushImage(built.dir, registry, 'team/app:v1')).digest;
    name = `${registry.host}/team/app:v1`;
  });

  it('pulls, reporting one line per layer on stderr and the digest and size on stdout', () => {
    const r = eci(['image', 'pull', name, '--plain-http', '--image-store', store]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Digest: +${pushed}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^Name: +${name.replace(/[.]/g, '\\.')}$`, 'm'));
    assert.match(r.stdout, /^Size: +\d+\.\d (KiB|MiB) \(\d+\.\d (KiB|MiB) unpacked, 2 layers\)$/m);
    assert.match(r.stdout, /^Pulled: +downloaded \d+\.\d (KiB|MiB) in \d+\.\d s$/m);
    // Not a terminal: no bar, one line per layer pulled (skopeo may recompress, so digests are the registry's).
    const layerLines = r.stderr.trim().split('\n');
    assert.equal(layerLines.length, 2, r.stderr);
    for (const l of layerLines) assert.match(l, /^sha256:[a-f0-9]{12}: \d+(\.\d)? (B|KiB|MiB) pulled$/);
    assert.ok(!r.stderr.includes('\r'), 'no carriage returns when stderr is not a terminal');
  });

  it('ls shows the image with the pushed digest, and --json parses', () => {
    const { header, rows } = parseTable(ok(['image', 'ls', '--image-store', store]));
    assert.deepEqual(header, ['NAME', 'DIGEST', 'SIZE', 'CREATED', 'IN', 'USE']);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].NAME, name);
    assert.equal(rows[0].DIGEST, pushed.slice(0, 'sha256:'.length + 12));
    assert.match(rows[0].SIZE, /^\d+\.\d (KiB|MiB)$/);
    assert.match(rows[0].CREATED, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(rows[0].IN, '');
    const [img] = lsJson(store);
    assert.equal(img.digest, pushed);
    assert.deepEqual(img.names, [name]);
    assert.equal(img.configDigest, built.configDigest);
    assert.deepEqual(img.layers.map((l) => l.diffId), built.diffIds);
    assert.deepEqual(img.platform, { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(img.leases, []);
    assert.equal(img.size, img.layers.reduce((n, l) => n + l.size, 0));
    assert.equal(rows[0].SIZE, formatBytes(img.size));
  });

  it('a second pull finds the image present and downloads nothing (--json)', () => {
    const r = JSON.parse(ok(['image', 'pull', name, '--plain-http', '--image-store', store, '--json']));
    assert.equal(r.alreadyPresent, true);
    assert.equal(r.downloadedBytes, 0);
    assert.equal(r.image.digest, pushed);
  });

  it('an image missing from the registry exits 1 with the registry\'s error', () => {
    const r = eci(['image', 'pull', `${registry.host}/team/app:nope`, '--plain-http', '--image-store', store]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^eci image pull: NotFound: .*answered 404 MANIFEST_UNKNOWN/m);
    assert.equal(r.stdout, '');
  });

  it('--platform picks the manifest of a multi-platform index', async () => {
    const small = (arch: string): ImageSpec => ({ layers: [{ entries: [{ path: 'arch', content: `${arch}\n` }] }], platform: { os: 'linux', architecture: arch } });
    const index = await buildIndexLayout([small('amd64'), small('arm64')], { tag: 'multi' });
    layouts.push(index.dir);
    await pushImage(index.dir, registry, 'team/multi:multi', { all: true });
    const r = JSON.parse(ok(['image', 'pull', `${registry.host}/team/multi:multi`, '--plain-http', '--platform', 'linux/arm64', '--image-store', store, '--json']));
    assert.equal(r.image.digest, index.manifests.find((m) => m.platform.architecture === 'arm64')!.digest);
    assert.equal(r.image.indexDigest, index.indexDigest);
    assert.deepEqual(r.image.platform, { os: 'linux', architecture: 'arm64' });
    const bad = eci(['image', 'pull', `${registry.host}/team/multi:multi`, '--plain-http', '--platform', 'linux', '--image-store', store]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--platform expects os\/arch/);
  });

  it('usage errors exit 2 and pull nothing; --help lists the commands and their options', () => {
    const help = ok(['image', '--help']);
    for (const c of ['pull NAME', 'ls [--json]', 'rm NAME…', 'import PATH', 'gc [--budget SIZE]', '--password-stdin', '--image-store DIR']) assert.ok(help.includes(c), `help mentions ${c}`);
    const none = eci(['image', 'pull', '--image-store', store]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /missing NAME/);
    const bad = eci(['image', 'pull', 'Bad Name:/x', '--image-store', store]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid image reference/);
    const pw = eci(['image', 'pull', name, '--password', 'x', '--image-store', store]);
    assert.equal(pw.code, 2);
    assert.match(pw.stderr, /needs --username/);
  });
});

describe('eci image pull with credentials (basic auth registry)', () => {
  let registry: TestRegistry;
  let pushed: string;
  const store = join(work, 'auth-store');
  before(async () => {
    registry = await startRegistry({ auth: 'basic' });
    registries.push(registry);
    const built = await layout({ layers: [{ entries: [{ path: 'secret', content: 'private\n' }] }] }, 'v1');
    pushed = (await pushImage(built.dir, registry, 'team/private:v1')).digest;
  });

  it('a wrong password exits 1 with the registry\'s message', () => {
    const r = eci(['image', 'pull', `${registry.host}/team/private:v1`, '--plain-http', '--username', 'tester', '--password', 'wrong', '--image-store', store]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^eci image pull: Unauthorized: .*answered 401 UNAUTHORIZED: authentication required; the credentials for [\d.:]+ \(user tester\) were rejected/m);
    assert.equal(r.stdout, '');
  });

  it('no credentials exits 1 too, saying none were given', () => {
    const r = eci(['image', 'pull', `${registry.host}/team/private:v1`, '--plain-http', '--image-store', store]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unauthorized: .*no credentials for [\d.:]+ were given/);
  });

  it('the right password from --password-stdin pulls', () => {
    const r = eciWithInput(['image', 'pull', `${registry.host}/team/private:v1`, '--plain-http', '--username', 'tester', '--password-stdin', '--image-store', store, '--json'], 'secret-pw\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).image.digest, pushed);
    assert.deepEqual(lsJson(store).map((i) => i.digest), [pushed]);
  });
});

describe('eci image import, rm and gc', () => {
  const store = join(work, 'import-store');
  let oci: BuiltImage;
  let archive: string;
  before(async () => {
    oci = await layout(appSpec('oci'), 'v1');
    const saved = await layout(appSpec('saved'), 'v2');
    archive = join(work, 'saved.tar');
    await runSkopeo(['copy', '--quiet', `oci:${saved.dir}:v2`, `docker-archive:${archive}:example.test/team/saved:v2`]);
  });

  it('imports an OCI image layout under --name, keeping its manifest digest', () => {
    const r = eci(['image', 'import', oci.dir, '--name', 'example.test/team/oci:v1', '--image-store', store]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Imported example\.test\/team\/oci:v1$/m);
    assert.match(r.stdout, new RegExp(`^Digest: +${oci.manifestDigest}$`, 'm'));
    const img = lsJson(store).find((i) => i.digest === oci.manifestDigest);
    assert.deepEqual(img?.names, ['example.test/team/oci:v1']);
    assert.deepEqual(img?.layers.map((l) => l.digest), oci.layerDigests);
  });

  it('imports a docker save tarball under its RepoTags (--json)', () => {
    const [img] = JSON.parse(ok(['image', 'import', archive, '--image-store', store, '--json'])) as JsonImage[];
    assert.deepEqual(img.names, ['example.test/team/saved:v2']);
    assert.match(img.digest, /^sha256:[a-f0-9]{64}$/);
    assert.equal(img.layers.length, 2);
    const names = parseTable(ok(['image', 'ls', '--image-store', store])).rows.map((r) => r.NAME).sort();
    assert.deepEqual(names, ['example.test/team/oci:v1', 'example.test/team/saved:v2']);
  });

  it('import of something that is no image exits 1 and says why', () => {
    const r = eci(['image', 'import', join(work, 'nothing-here'), '--image-store', store]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^eci image import: cannot import .*nothing-here: no such file or directory/m);
  });

  it('rm refuses an image a container uses unless --force; gc keeps it until the lease goes', async () => {
    const digest = lsJson(store).find((i) => i.names.includes('example.test/team/saved:v2'))!.digest;
    // A container on this host holds the image, as the agent records it (a lease file in the shared store).
    const agentSide = new ImageStore({ root: store });
    agentSide.lease(digest, 'eci-test/web');
    try {
      const ls = parseTable(ok(['image', 'ls', '--image-store', store])).rows.find((r) => r.NAME === 'example.test/team/saved:v2');
      assert.equal(ls?.IN, '1');
      assert.deepEqual(lsJson(store).find((i) => i.digest === digest)?.leases, ['eci-test/web']);

      const refused = eci(['image', 'rm', 'example.test/team/saved:v2', '--image-store', store]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^eci image rm: image example\.test\/team\/saved:v2 is in use by lease eci-test\/web/m);
      assert.ok(lsJson(store).some((i) => i.digest === digest && i.names.includes('example.test/team/saved:v2')), 'still there, still named');

      const forced = eci(['image', 'rm', 'example.test/team/saved:v2', '--force', '--image-store', store]);
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(forced.stdout.trim(), 'example.test/team/saved:v2');
      assert.match(forced.stderr, /stays in the store while eci-test\/web uses it/);
      const kept = lsJson(store).find((i) => i.digest === digest);
      assert.deepEqual(kept?.names, [], 'the name is gone, the content stays for the container');
      assert.equal(parseTable(ok(['image', 'ls', '--image-store', store])).rows.find((r) => r.DIGEST === digest.slice(0, 19))?.NAME, '<none>');

      const gcLeased = JSON.parse(ok(['image', 'gc', '--image-store', store, '--json']));
      assert.deepEqual(gcLeased.removedImages, []);
      assert.ok(lsJson(store).some((i) => i.digest === digest), 'gc keeps a leased image');
    } finally {
      agentSide.release('eci-test/web');
      agentSide.close();
    }
    const gcOut = ok(['image', 'gc', '--image-store', store]);
    assert.match(gcOut, new RegExp(`^Removed ${digest}$`, 'm'));
    const freed = /^Freed (\d+(?:\.\d)? (?:B|KiB|MiB)); the store holds (\d+(?:\.\d)? (?:B|KiB|MiB))$/m.exec(gcOut);
    assert.ok(freed, gcOut);
    assert.notEqual(freed[1], '0 B');
    assert.deepEqual(lsJson(store).map((i) => i.names), [['example.test/team/oci:v1']]);
  });

  it('rm removes by name and reports an unknown one, going on with the rest', () => {
    const again = eci(['image', 'import', oci.dir, '--name', 'example.test/team/oci:v2', '--image-store', store]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(lsJson(store).map((i) => i.names), [['example.test/team/oci:v1', 'example.test/team/oci:v2']]);
    const r = eci(['image', 'rm', 'example.test/team/nope:v1', 'example.test/team/oci:v1', '--image-store', store]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^eci image rm: image example\.test\/team\/nope:v1 is not in the local store$/m);
    assert.equal(r.stdout.trim(), 'example.test/team/oci:v1');
    assert.deepEqual(lsJson(store).map((i) => i.names), [['example.test/team/oci:v2']], 'one of two names only untags');
    assert.equal(ok(['image', 'rm', oci.manifestDigest.slice(7, 7 + 12), '--image-store', store]).trim(), oci.manifestDigest.slice(7, 19));
    assert.deepEqual(lsJson(store), []);
    assert.equal(ok(['image', 'ls', '--image-store', store]).trim(), '(none)');
  });

  it('gc --budget removes unused named images until the store fits', () => {
    ok(['image', 'import', oci.dir, '--name', 'example.test/team/oci:v1', '--image-store', store]);
    ok(['image', 'import', archive, '--image-store', store]);
    const keep = JSON.parse(ok(['image', 'gc', '--budget', '1TiB', '--image-store', store, '--json']));
    assert.deepEqual(keep.removedImages, []);
    assert.equal(lsJson(store).length, 2);
    const r = JSON.parse(ok(['image', 'gc', '--budget', '0', '--image-store', store, '--json']));
    assert.equal(r.removedImages.length, 2);
    assert.deepEqual(r.removedImages.map((x: { names: string[] }) => x.names).flat().sort(), ['example.test/team/oci:v1', 'example.test/team/saved:v2']);
    assert.ok(r.freedBytes > 0);
    assert.equal(r.usedBytes, 0);
    assert.deepEqual(lsJson(store), []);
    const bad = eci(['image', 'gc', '--budget', 'lots', '--image-store', store]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--budget expects a size/);
  });
});

describe('where eci image finds the store', () => {
  it('imageStoreDir: --image-store, else <state dir>/agent/image-store (named, ./.eci, ~/.eci)', () => {
    const cwd = emptyDir();
    const home = emptyDir();
    assert.equal(imageStoreDir({ imageStore: 'rel/store', stateDir: 'x', cwd, home }), join(cwd, 'rel/store'));
    assert.equal(imageStoreDir({ stateDir: 'st', cwd, home }), join(cwd, 'st/agent/image-store'));
    assert.equal(imageStoreDir({ cwd, home }), join(cwd, '.eci/agent/image-store'), 'nothing anywhere: ./.eci, where eci dev puts it');
  });

  it('bin/eci uses --state-dir, ECI_STATE_DIR, ./.eci, then ~/.eci, as for dev.json', async () => {
    const small = await layout({ layers: [{ entries: [{ path: 'where', content: 'here\n' }] }] });
    const names = (args: string[], opts: { cwd?: string; home?: string; env?: Record<string, string> }) =>
      (JSON.parse(ok(['image', 'ls', '--json', ...args], opts)) as JsonImage[]).flatMap((i) => i.names);
    const cwd = emptyDir();
    const home = emptyDir();
    const named = join(emptyDir(), 'state');
    ok(['image', 'import', small.dir, '--name', 'where.test/named:v1', '--state-dir', named], { cwd, home });
    assert.ok(existsSync(join(named, 'agent/image-store/images')), 'the store of `eci agent --state-dir`, which has no dev.json');
    assert.deepEqual(names(['--state-dir', named], { cwd, home }), ['where.test/named:v1']);
    assert.deepEqual(names([], { cwd, home, env: { ECI_STATE_DIR: named } }), ['where.test/named:v1']);
    // Nothing named, nothing anywhere: ./.eci, where `eci dev` keeps its state.
    ok(['image', 'import', small.dir, '--name', 'where.test/cwd:v1'], { cwd, home });
    assert.ok(existsSync(join(cwd, '.eci/agent/image-store/images')));
    assert.deepEqual(names([], { cwd, home }), ['where.test/cwd:v1']);
    // From elsewhere, ~/.eci; a dev.json there makes it the state dir as it does for the API verbs.
    const elsewhere = emptyDir();
    ok(['image', 'import', small.dir, '--name', 'where.test/home:v1'], { cwd: home, home });
    assert.deepEqual(names([], { cwd: elsewhere, home }), ['where.test/home:v1']);
    const devDir = emptyDir();
    writeFileSync(join(devDir, 'dev.json'), JSON.stringify({ endpoint: '127.0.0.1:1', accessKeyId: 'k', accessKeySecret: 's', regionId: 'cn-hangzhou' }));
    ok(['image', 'import', small.dir, '--name', 'where.test/dev:v1', '--state-dir', devDir], { cwd: elsewhere, home });
    assert.ok(existsSync(join(devDir, 'agent/image-store/images')));
    assert.deepEqual(names(['--image-store', join(devDir, 'agent/image-store')], { cwd: elsewhere, home }), ['where.test/dev:v1']);
  });

  it('parseSize and formatBytes', () => {
    assert.equal(parseSize('budget', '10GiB'), 10 * 2 ** 30);
    assert.equal(parseSize('budget', '1.5g'), 1.5 * 2 ** 30);
    assert.equal(parseSize('budget', '500MB'), 500e6);
    assert.equal(parseSize('budget', '4096'), 4096);
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(10 * 2 ** 30), '10.0 GiB');
  });
});
