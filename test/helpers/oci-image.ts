// Real OCI images for image tests, built from a spec: each layer is staged as files in a temp dir and archived by
// GNU tar, compressed with node:zlib (gzip or zstd) or left plain, and written into an OCI image layout
// (oci-layout, index.json, blobs/sha256/…) that skopeo pushes to a TestRegistry.
//
// Determinism contract: the same spec (and the same randomLayer seed) gives the same layer, config and manifest
// digests on every run — tar runs with --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu
// (no atime/ctime, no PID-named pax headers), gzip output of node:zlib carries no timestamp, and the config has
// a fixed `created`. Tar members are named './…' (GNU tar's form for `-C dir .`), with a './' root entry (0755).
//
// Whiteouts are written as the OCI layer spec says: `{path: 'a/b', whiteout}` is an empty regular file
// `a/.wh.b`; `{path: 'a', opaque}` is an empty regular file `a/.wh..wh..opq`. Parent directories that an entry
// needs but the spec does not list are created 0755.

import { execFile, execFileSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { gzip, zstdCompress } from 'node:zlib';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TestRegistry } from './registry.ts';

export type LayerEntry =
  | { path: string; content: string | Buffer; mode?: number }      // regular file (default 0644)
  | { path: string; dir: true; mode?: number }                    // directory (default 0755)
  | { path: string; symlink: string }
  | { path: string; whiteout: true }          // written as <dir>/.wh.<name>
  | { path: string; opaque: true };           // written as <path>/.wh..wh..opq

export interface LayerSpec { entries: LayerEntry[]; compression?: 'gzip' | 'zstd' | 'none' }   // default gzip

export interface ImageConfigSpec { Env?: string[]; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; User?: string }

export interface Platform { os: string; architecture: string; variant?: string }

export interface ImageSpec {
  layers: LayerSpec[];
  /** Copied into the image config's `config` exactly as given (nothing is added, not even PATH). */
  config?: ImageConfigSpec;
  platform?: Platform;   // default linux/amd64
}

export interface BuiltImage {
  dir: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigests: string[];   // compressed blobs, bottom first
  layerSizes: number[];     // compressed sizes
  diffIds: string[];        // sha256 of each uncompressed tar
  platform: Platform;
}

export interface BuiltIndex {
  dir: string;
  indexDigest: string;
  manifests: { platform: Platform; digest: string; configDigest: string; layerDigests: string[] }[];
}

export const MEDIA_TYPES = Object.freeze({
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
});

const REF_NAME = 'org.opencontainers.image.ref.name';
const gzipAsync = promisify(gzip);
const zstdAsync = promisify(zstdCompress);

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function normalize(path: string): string {
  const p = posix.normalize(`/${path}`).replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '' || p === '.' || p.startsWith('..')) throw new Error(`layer entry path must name something under the root: ${JSON.stringify(path)}`);
  return p;
}

function ensureParents(root: string, rel: string): void {
  const parent = dirname(rel);
  if (parent === '.' || parent === '') return;
  mkdirSync(join(root, parent), { recursive: true, mode: 0o755 });
}

/** Stages the entries as real files under root (in order: a later entry replaces an earlier one of the same path). */
function stage(root: string, entries: LayerEntry[]): void {
  chmodSync(root, 0o755);
  const dirModes: [string, number][] = [];
  for (const e of entries) {
    const rel = normalize(e.path);
    ensureParents(root, rel);
    const abs = join(root, rel);
    if ('content' in e) {
      rmSync(abs, { recursive: true, force: true });
      writeFileSync(abs, e.content);
      chmodSync(abs, e.mode ?? 0o644);
    } else if ('dir' in e) {
      mkdirSync(abs, { recursive: true });
      dirModes.push([abs, e.mode ?? 0o755]);
    } else if ('symlink' in e) {
      rmSync(abs, { recursive: true, force: true });
      symlinkSync(e.symlink, abs);
    } else if ('whiteout' in e) {
      const wh = join(dirname(abs), `.wh.${posix.basename(rel)}`);
      writeFileSync(wh, '');
      chmodSync(wh, 0o644);
    } else if ('opaque' in e) {
      mkdirSync(abs, { recursive: true, mode: 0o755 });
      const wh = join(abs, '.wh..wh..opq');
      writeFileSync(wh, '');
      chmodSync(wh, 0o644);
    }
  }
  // Directory modes last: a 0555 directory must still receive its entries first.
  for (const [abs, mode] of dirModes) chmodSync(abs, mode);
}

/** The uncompressed, deterministic tar of a layer spec (GNU tar). */
export function layerTar(spec: LayerSpec): Buffer {
  const root = mkdtempSync(join(tmpdir(), 'eci-layer-'));
  try {
    stage(root, spec.entries);
    return execFileSync('tar', [
      '--create', '--format=gnu', '--numeric-owner', '--owner=0', '--group=0', '--sort=name', '--mtime=@0',
      '-C', root, '.',
    ], { maxBuffer: 4 * 1024 * 1024 * 1024 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function compress(tar: Buffer, compression: 'gzip' | 'zstd' | 'none'): Promise<{ blob: Buffer; mediaType: string }> {
  if (compression === 'none') return { blob: tar, mediaType: MEDIA_TYPES.layerTar };
  if (compression === 'zstd') return { blob: await zstdAsync(tar), mediaType: MEDIA_TYPES.layerZstd };
  return { blob: await gzipAsync(tar), mediaType: MEDIA_TYPES.layerGzip };
}

function writeBlob(dir: string, data: Buffer | string): { digest: string; size: number } {
  const digest = sha256(data);
  const file = join(dir, 'blobs', 'sha256', digest.slice(7));
  if (!existsSync(file)) writeFileSync(file, data);
  return { digest, size: Buffer.byteLength(data) };
}

function initLayout(dir: string | undefined): string {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'eci-oci-layout-'));
  mkdirSync(join(d, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(d, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return d;
}

interface IndexEntry { mediaType: string; digest: string; size: number; platform?: Platform; annotations?: Record<string, string> }

/** Adds (or replaces, by ref name) the tag's entry in the layout's index.json; other tags in the layout stay. */
function tagInLayout(dir: string, entry: IndexEntry, tag: string): void {
  const file = join(dir, 'index.json');
  let manifests: IndexEntry[] = [];
  if (existsSync(file)) {
    const existing = JSON.parse(readFileSync(file, 'utf8')) as { manifests?: IndexEntry[] };
    manifests = (existing.manifests ?? []).filter((m) => m.annotations?.[REF_NAME] !== tag);
  }
  manifests.push({ ...entry, annotations: { ...entry.annotations, [REF_NAME]: tag } });
  writeFileSync(file, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests }, null, 2));
}

/** Writes one image's blobs (layers, config, manifest) into an initialized layout, without tagging it. */
async function writeImage(dir: string, spec: ImageSpec): Promise<Omit<BuiltImage, 'dir'>> {
  const platform: Platform = { ...(spec.platform ?? { os: 'linux', architecture: 'amd64' }) };
  const layers: { mediaType: string; digest: string; size: number }[] = [];
  const diffIds: string[] = [];
  for (const layer of spec.layers) {
    const tar = layerTar(layer);
    diffIds.push(sha256(tar));
    const { blob, mediaType } = await compress(tar, layer.compression ?? 'gzip');
    layers.push({ mediaType, ...writeBlob(dir, blob) });
  }
  const config = {
    created: '1970-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { ...(spec.config ?? {}) },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: spec.layers.map(() => ({ created: '1970-01-01T00:00:00Z', created_by: 'openeci test/helpers/oci-image.ts' })),
  };
  const configBlob = writeBlob(dir, JSON.stringify(config));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, ...configBlob },
    layers,
  });
  const manifestBlob = writeBlob(dir, manifest);
  return {
    manifestDigest: manifestBlob.digest,
    manifestSize: manifestBlob.size,
    configDigest: configBlob.digest,
    layerDigests: layers.map((l) => l.digest),
    layerSizes: layers.map((l) => l.size),
    diffIds,
    platform,
  };
}

/**
 * Builds an OCI image layout directory (oci-layout, index.json, blobs/sha256/…) — real tar (GNU tar) layers.
 * `dir` may be an existing layout: the image is added under `tag` (default 'latest'), replacing only that tag.
 * Without `dir` a temp dir is created; the caller removes it.
 */
export async function buildImageLayout(spec: ImageSpec, opts: { dir?: string; tag?: string } = {}): Promise<BuiltImage> {
  const dir = initLayout(opts.dir);
  const image = await writeImage(dir, spec);
  tagInLayout(dir, { mediaType: MEDIA_TYPES.manifest, digest: image.manifestDigest, size: image.manifestSize, platform: image.platform }, opts.tag ?? 'latest');
  return { dir, ...image };
}

/** A multi-platform OCI image index over several single-platform images, in one layout, tagged `tag`. */
export async function buildIndexLayout(images: ImageSpec[], opts: { dir?: string; tag?: string } = {}): Promise<BuiltIndex> {
  if (images.length === 0) throw new Error('an image index needs at least one image');
  const dir = initLayout(opts.dir);
  const built: Omit<BuiltImage, 'dir'>[] = [];
  for (const spec of images) built.push(await writeImage(dir, spec));
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: built.map((b) => ({ mediaType: MEDIA_TYPES.manifest, digest: b.manifestDigest, size: b.manifestSize, platform: b.platform })),
  });
  const indexBlob = writeBlob(dir, index);
  tagInLayout(dir, { mediaType: MEDIA_TYPES.index, digest: indexBlob.digest, size: indexBlob.size }, opts.tag ?? 'latest');
  return {
    dir,
    indexDigest: indexBlob.digest,
    manifests: built.map((b) => ({ platform: b.platform, digest: b.manifestDigest, configDigest: b.configDigest, layerDigests: b.layerDigests })),
  };
}

let busyboxEntries: LayerEntry[] | undefined;

/**
 * The host's busybox-static (/bin/busybox) + a symlink per applet of `busybox --list-full` (absolute target
 * /bin/busybox) + /etc/passwd, /etc/group (root, nobody), empty /etc/hosts, /etc/hostname, /etc/resolv.conf and
 * /tmp (1777), as one gzip layer, so images built on it run `sh`. The host binary is the host's architecture:
 * a non-amd64 platform label on it is a label only.
 */
export function busyboxLayer(): LayerSpec {
  if (!busyboxEntries) {
    const binary = readFileSync('/bin/busybox');
    const applets = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' })
      .split('\n').map((l) => l.trim()).filter((l) => l && l !== 'bin/busybox' && l.includes('/'));
    busyboxEntries = [
      { path: 'bin', dir: true },
      { path: 'sbin', dir: true },
      { path: 'usr/bin', dir: true },
      { path: 'usr/sbin', dir: true },
      { path: 'bin/busybox', content: binary, mode: 0o755 },
      ...applets.map((a): LayerEntry => ({ path: a, symlink: '/bin/busybox' })),
      { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
      { path: 'etc/group', content: 'root:x:0:\nnobody:x:65534:\n' },
      { path: 'etc/hosts', content: '' },
      { path: 'etc/hostname', content: '' },
      { path: 'etc/resolv.conf', content: '' },
      { path: 'root', dir: true, mode: 0o700 },
      { path: 'tmp', dir: true, mode: 0o1777 },
    ];
  }
  return { entries: [...busyboxEntries], compression: 'gzip' };
}

const RANDOM_FILE_BYTES = 8 * 1024 * 1024;

/**
 * Incompressible files totalling exactly `bytes` of content (data/blob-NNNN, up to 8 MiB each), for the
 * benchmark's 100 MB image. The same seed gives the same bytes (AES-128-CTR keystream); no seed = random.
 * Compression defaults to 'gzip' like every layer (it will not shrink); pass {…, compression} to override.
 */
export function randomLayer(bytes: number, seed?: number): LayerSpec {
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`randomLayer bytes must be a non-negative integer: ${bytes}`);
  const key = seed === undefined ? randomBytes(16) : createHash('sha256').update(`openeci-random-layer-${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const entries: LayerEntry[] = [{ path: 'data', dir: true }];
  for (let offset = 0, i = 0; offset < bytes; offset += RANDOM_FILE_BYTES, i++) {
    const n = Math.min(RANDOM_FILE_BYTES, bytes - offset);
    entries.push({ path: `data/blob-${String(i).padStart(4, '0')}`, content: cipher.update(Buffer.alloc(n)) });
  }
  return { entries, compression: 'gzip' };
}

/**
 * `skopeo copy` of the layout's `tag` (default: the tag of repoAndTag if the layout has it, else the layout's only
 * tag, else 'latest') to
 * `<registry.host>/<repoAndTag>`; returns the digest of the manifest (or index, with all=true) as pushed.
 * format 'v2s2' converts to Docker schema 2 media types (skopeo 1.9 cannot convert zstd layers to v2s2: it fails,
 * which is the tool's limit, not the registry's). all=true copies an index with every platform. `user` picks the
 * credentials from registry.users (default: the first user; none when the registry has no users).
 * tls registries are verified against registry.certDir.
 * Uncompressed ('none') layers: skopeo (containers/image) always gzips them for a registry, so after the skopeo
 * copy the layout's own blobs and manifest(s) are put over the distribution API as built, and the returned digest
 * is the built one (with all=false on an index, skopeo's single-platform result is returned as is).
 */
export async function pushImage(
  layoutDir: string, registry: TestRegistry, repoAndTag: string,
  opts: { format?: 'oci' | 'v2s2'; all?: boolean; user?: string; tag?: string } = {},
): Promise<{ digest: string }> {
  const lastSlash = repoAndTag.lastIndexOf('/');
  const colon = repoAndTag.lastIndexOf(':');
  const refTag = colon > lastSlash ? repoAndTag.slice(colon + 1) : undefined;
  const layoutTags = (JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] })
    .manifests.flatMap((m) => m.annotations?.[REF_NAME] ?? []);
  const tag = opts.tag ?? (refTag && layoutTags.includes(refTag) ? refTag : layoutTags.length === 1 ? layoutTags[0] : 'latest');
  const tmp = mkdtempSync(join(tmpdir(), 'eci-push-'));
  try {
    const digestFile = join(tmp, 'digest');
    const args = ['copy', '--quiet', '--digestfile', digestFile];
    if (opts.all) args.push('--all');
    if (opts.format === 'v2s2') args.push('--format', 'v2s2');
    else if (opts.format === 'oci') args.push('--format', 'oci');
    args.push(...skopeoRegistryArgs(registry, 'dest', opts.user));
    args.push(`oci:${layoutDir}:${tag}`, `docker://${registry.host}/${repoAndTag}`);
    await runSkopeo(args);
    const pushed = readFileSync(digestFile, 'utf8').trim();
    if (opts.format === 'v2s2') return { digest: pushed };
    // containers/image always gzips uncompressed layers for a registry destination, which rewrites the manifest.
    // To serve uncompressed layers as built, the layout's own blobs and manifests are then put over the HTTP API.
    const root = layoutRoot(layoutDir, tag);
    if (root.mediaType === MEDIA_TYPES.index && !opts.all) return { digest: pushed };
    if (!usesUncompressedLayers(layoutDir, root)) return { digest: pushed };
    const repo = colon > lastSlash ? repoAndTag.slice(0, colon) : repoAndTag;
    await putAsBuilt(layoutDir, registry, repo, root, refTag ?? 'latest', opts.user);
    return { digest: root.digest };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

interface Descriptor { mediaType: string; digest: string; size: number }

function readBlob(layoutDir: string, digest: string): Buffer {
  return readFileSync(join(layoutDir, 'blobs', 'sha256', digest.slice(7)));
}

function layoutRoot(layoutDir: string, tag: string): Descriptor {
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests: (Descriptor & { annotations?: Record<string, string> })[] };
  const entry = index.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!entry) throw new Error(`layout ${layoutDir} has no tag ${tag}`);
  return entry;
}

function childManifests(layoutDir: string, root: Descriptor): Descriptor[] {
  if (root.mediaType !== MEDIA_TYPES.index) return [root];
  return (JSON.parse(readBlob(layoutDir, root.digest).toString('utf8')) as { manifests: Descriptor[] }).manifests;
}

function usesUncompressedLayers(layoutDir: string, root: Descriptor): boolean {
  return childManifests(layoutDir, root).some((m) =>
    (JSON.parse(readBlob(layoutDir, m.digest).toString('utf8')) as { layers: Descriptor[] }).layers.some((l) => l.mediaType === MEDIA_TYPES.layerTar));
}

interface HttpAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function httpCall(registry: TestRegistry, method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const ca = registry.caCertFile && u.protocol === 'https:' ? readFileSync(registry.caCertFile) : undefined;
    const req = send(u, { method, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A minimal distribution API client for putAsBuilt: answers a 401 challenge once per scope, with Basic
 * credentials (htpasswd) or a token fetched from the Bearer realm with those credentials.
 */
function registryClient(registry: TestRegistry, user?: string) {
  const name = user ?? Object.keys(registry.users)[0];
  const basic = name === undefined ? undefined : `Basic ${Buffer.from(`${name}:${registry.users[name]}`).toString('base64')}`;
  const authByScope = new Map<string, string>();
  let lastAuth: string | undefined;
  const challengeAuth = async (header: string): Promise<string | undefined> => {
    if (header.startsWith('Basic')) return basic;
    const params = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const cached = authByScope.get(params.scope ?? '');
    if (cached) return cached;
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    if (params.scope) tokenUrl.searchParams.set('scope', params.scope);
    const res = await httpCall(registry, 'GET', tokenUrl.href, basic ? { authorization: basic } : {});
    if (res.status !== 200) throw new Error(`token request to ${tokenUrl.host} failed: ${res.status} ${res.body.toString('utf8')}`);
    const bearer = `Bearer ${(JSON.parse(res.body.toString('utf8')) as { token: string }).token}`;
    authByScope.set(params.scope ?? '', bearer);
    return bearer;
  };
  return async (method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<HttpAnswer> => {
    const url = new URL(path, registry.url).href;
    let res = await httpCall(registry, method, url, { ...headers, ...(lastAuth ? { authorization: lastAuth } : {}) }, body);
    const challenge = res.headers['www-authenticate'];
    if (res.status === 401 && typeof challenge === 'string') {
      lastAuth = await challengeAuth(challenge);
      res = await httpCall(registry, method, url, { ...headers, ...(lastAuth ? { authorization: lastAuth } : {}) }, body);
    }
    return res;
  };
}

/** Puts the layout's blobs (those the registry lacks) and manifests under repo exactly as built; root gets `tag`. */
async function putAsBuilt(layoutDir: string, registry: TestRegistry, repo: string, root: Descriptor, tag: string, user?: string): Promise<void> {
  const call = registryClient(registry, user);
  const ensureBlob = async (digest: string) => {
    if ((await call('HEAD', `/v2/${repo}/blobs/${digest}`)).status === 200) return;
    const started = await call('POST', `/v2/${repo}/blobs/uploads/`, {}, Buffer.alloc(0));
    const location = started.headers.location;
    if (started.status !== 202 || typeof location !== 'string') throw new Error(`blob upload to ${registry.host}/${repo} refused: ${started.status} ${started.body.toString('utf8')}`);
    const target = new URL(location, registry.url);
    target.searchParams.set('digest', digest);
    const done = await call('PUT', target.pathname + target.search, { 'content-type': 'application/octet-stream' }, readBlob(layoutDir, digest));
    if (done.status !== 201) throw new Error(`blob ${digest} upload to ${registry.host}/${repo} failed: ${done.status} ${done.body.toString('utf8')}`);
  };
  const putManifest = async (d: Descriptor, reference: string) => {
    const res = await call('PUT', `/v2/${repo}/manifests/${reference}`, { 'content-type': d.mediaType }, readBlob(layoutDir, d.digest));
    if (res.status !== 201) throw new Error(`manifest ${d.digest} put to ${registry.host}/${repo} failed: ${res.status} ${res.body.toString('utf8')}`);
  };
  for (const m of childManifests(layoutDir, root)) {
    const manifest = JSON.parse(readBlob(layoutDir, m.digest).toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
    for (const b of [manifest.config, ...manifest.layers]) await ensureBlob(b.digest);
    if (m !== root) await putManifest(m, m.digest);
  }
  await putManifest(root, tag);
}

/**
 * skopeo's TLS and credential flags for a TestRegistry. side 'dest' for copy's destination, 'src' for its source,
 * '' for inspect. user undefined = the registry's first user; null = anonymous; a user not in registry.users is
 * an error; `password` overrides (to test a wrong one).
 */
export function skopeoRegistryArgs(registry: TestRegistry, side: 'dest' | 'src' | '', user?: string | null, password?: string): string[] {
  const prefix = side ? `--${side}-` : '--';
  const args: string[] = [];
  if (registry.tls && registry.certDir) args.push(`${prefix}cert-dir`, registry.certDir);
  else args.push(`${prefix}tls-verify=false`);
  const name = user === null ? undefined : user ?? Object.keys(registry.users)[0];
  if (name !== undefined) {
    const pw = password ?? registry.users[name];
    if (pw === undefined) throw new Error(`registry has no user ${name}`);
    args.push(`${prefix}creds`, `${name}:${pw}`);
  }
  return args;
}

/**
 * Runs skopeo with an empty auth file of its own (so a developer's ~/.docker or containers auth never leaks in,
 * and skopeo never writes one); the error carries skopeo's stderr.
 */
export async function runSkopeo(args: string[]): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'eci-skopeo-'));
  const authFile = join(tmp, 'auth.json');
  writeFileSync(authFile, '{}');
  try {
    return await new Promise((resolve, reject) => {
      execFile('skopeo', args, { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, REGISTRY_AUTH_FILE: authFile } }, (err, stdout, stderr) => {
        if (err) reject(new Error(`skopeo ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
