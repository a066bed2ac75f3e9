// The host's image store: content-addressed blobs, unpacked overlay-ready layers, image records, names and
// leases under one root directory, shared by every instance on the host (and by the `eci image` CLI).
//
// Layout under `root`:
//   blobs/sha256/<hex>          verified blobs (manifests, configs, compressed layers); immutable
//   ingest/<hex>.partial        resumable downloads; <hex>.lock holds the downloading pid
//   layers/<diffid hex>/        unpacked layers, whiteouts converted for overlayfs; immutable
//   l/<16 hex>                  short symlinks to layers/, so 40+ layers fit in one mount-option page
//   images/<manifest hex>.json  image records (ImageRecord)
//   names.json                  canonical name → manifest digest
//   leases/<holder>             the digest a container holds (GC and remove keep it)
//
// Contracts:
// - Every write is temp + rename: a crash leaves no half state, and two processes may share the root. The
//   names file is read-modify-written under `names.lock`.
// - `pull` is safe to call concurrently: the same layer (by diff_id) is downloaded and unpacked once per
//   process however many pulls want it; across processes, `layers/<hex>` appearing by rename is the
//   arbiter (the loser's identical copy is dropped).
// - GC and remove never delete a leased image, nor a layer listed in a mounted overlay's lowerdir
//   (/proc/self/mountinfo), nor anything a pull in this process is still assembling.

import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidImageReferenceError, manifestReference, normalizeRegistryServer, parseImageReference, type ImageReference } from '../../core/image-reference.ts';
import { ImageImportError, ImageInUseError, ImageNotFoundError, ImagePullError } from './errors.ts';
import { cleanStale, hexOf, LayerUnpacker, storePaths, type LayerTarget, type StorePaths, type UnpackedLayer } from './layer-unpack.ts';
import {
  DEFAULT_PLATFORM,
  DIGEST_PATTERN,
  formatPlatform,
  listPlatforms,
  ManifestError,
  MANIFEST_ACCEPT,
  MEDIA,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type ImageConfigBlob,
  type ImageManifest,
  type Platform,
} from './manifest.ts';
import { mountedLowerDirs } from './mounts.ts';
import { RegistryClient, type RegistryResponse, type RegistryTarget, type RetryPolicy } from './registry-client.ts';

export { ImageImportError, ImageInUseError, ImageNotFoundError, ImagePullError } from './errors.ts';
export type { ImagePullErrorCode } from './errors.ts';

/** As in ContainerGroupData.ImageRegistryCredentials. */
export interface RegistryCredential {
  readonly Server: string;
  readonly UserName: string;
  readonly Password: string;
}

export interface PullOptions {
  /** Matched by Server === reference.registry (Server may be written as a URL: `https://host/v1/`). */
  readonly credentials?: readonly RegistryCredential[];
  /** host[:port] → http:// */
  readonly plainHttpRegistries?: readonly string[];
  /** host[:port] → https:// without certificate verification */
  readonly insecureRegistries?: readonly string[];
  /** Default linux/amd64. */
  readonly platform?: Platform;
  readonly onProgress?: (p: PullProgress) => void;
  readonly signal?: AbortSignal;
}

export interface PullProgress {
  /** The layer digest this update is about ('' for the resolving and done phases). */
  readonly layer: string;
  readonly downloadedBytes: number;
  readonly totalBytes: number;
  readonly imageDownloadedBytes: number;
  readonly imageTotalBytes: number;
  readonly phase: 'resolving' | 'downloading' | 'unpacking' | 'done';
}

export interface LocalLayer {
  /** The blob (compressed) digest. */
  readonly digest: string;
  readonly diffId: string;
  /** Compressed bytes. */
  readonly size: number;
  /** Bytes of the uncompressed tar stream. */
  readonly unpackedSize: number;
  /** layers/<diffid hex>, the unpacked tree. */
  readonly dir: string;
}

export interface LocalImage {
  /** Canonical references that point here. */
  readonly names: readonly string[];
  /** Manifest digest (the ImageID / repo digest). */
  readonly digest: string;
  /** The index/manifest list digest when the image was chosen from one. */
  readonly indexDigest?: string;
  readonly configDigest: string;
  readonly platform: Platform;
  readonly config: { env: string[]; entrypoint: string[]; cmd: string[]; workingDir: string; user: string };
  /** Bottom first. */
  readonly layers: readonly LocalLayer[];
  /** Compressed bytes of the layers (what a pull transfers). */
  readonly size: number;
  readonly unpackedSize: number;
  /** overlayfs lowerdir option: layer dirs (short `l/` links) joined by ':' TOP FIRST. */
  readonly lowerdir: string;
  readonly createdAt: string;
  readonly lastUsedAt: string;
}

export interface PullResult {
  readonly image: LocalImage;
  /** Bytes transferred from the registry by this pull (resumed bytes from an earlier attempt excluded). */
  readonly downloadedBytes: number;
  readonly durationMs: number;
  /** True when the manifest resolved to an image already complete in the store (nothing downloaded). */
  readonly alreadyPresent: boolean;
}

interface ImageRecord {
  digest: string;
  indexDigest?: string;
  configDigest: string;
  platform: Platform;
  config: LocalImage['config'];
  layers: { digest: string; diffId: string; size: number; unpackedSize: number; mediaType: string }[];
  createdAt: string;
  lastUsedAt: string;
}

// The kernel copies mount options into one page; upperdir=, workdir= and the other options need room too.
export const MOUNT_OPTIONS_PAGE = 4096;
export const UPPER_WORK_RESERVE = 512;
export const MAX_LOWERDIR = MOUNT_OPTIONS_PAGE - UPPER_WORK_RESERVE;
// Parallel layer downloads per pull: 3–4 saturate a link without starving other pulls (the Docker and
// containerd defaults are 3).
const LAYER_CONCURRENCY = 4;
// Orphans (unreferenced layers/blobs) younger than this may belong to another process's pull in progress.
const ORPHAN_GRACE_MS = 10 * 60_000;
const PROGRESS_INTERVAL_MS = 100;
const WRITE_BATCH = 512 * 1024;
const SHORT_ID = 16;

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function writeAtomic(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function tryStat(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

interface LayerJob {
  readonly promise: Promise<UnpackedLayer>;
  readonly listeners: Set<(downloaded: number) => void>;
  networkBytes: number;
}

export class ImageStore {
  readonly root: string;
  readonly paths: StorePaths;
  readonly #client: RegistryClient;
  readonly #jobs = new Map<string, LayerJob>();
  /** Layer downloads on the wire at once, across every pull of this store (see #downloadLayer). */
  readonly #downloadSlots = new Slots(LAYER_CONCURRENCY);
  /** Layer and blob hexes a pull or import in this process is assembling (GC keeps them). */
  readonly #pending = new Map<string, number>();

  constructor(opts: { root: string; retry?: RetryPolicy; requestTimeoutMs?: number }) {
    this.root = resolve(opts.root);
    this.paths = storePaths(this.root);
    this.#client = new RegistryClient({ retry: opts.retry, requestTimeoutMs: opts.requestTimeoutMs });
    for (const d of [this.paths.blobs, this.paths.ingest, this.paths.layers, join(this.root, 'images'), join(this.root, 'l'), join(this.root, 'leases')])
      mkdirSync(d, { recursive: true });
    cleanStale(this.paths);
  }

  /** Closes idle registry connections. The store stays usable (new connections are opened on demand). */
  close(): void {
    this.#client.close();
  }

  // ---------------------------------------------------------------- pull

  async pull(name: string, opts: PullOptions = {}): Promise<PullResult> {
    const started = Date.now();
    let ref: ImageReference;
    try {
      ref = parseImageReference(name);
    } catch (e) {
      throw new ImagePullError(name, 'InvalidReference', (e as Error).message);
    }
    const registry = ref.registry.toLowerCase();
    const cred = opts.credentials?.find((c) => normalizeRegistryServer(c.Server) === registry);
    const t: RegistryTarget = {
      image: name,
      ref,
      ...(cred ? { credential: { UserName: cred.UserName, Password: cred.Password } } : {}),
      plainHttp: (opts.plainHttpRegistries ?? []).some((r) => normalizeRegistryServer(r) === registry),
      insecure: (opts.insecureRegistries ?? []).some((r) => normalizeRegistryServer(r) === registry),
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    const emit = progressEmitter(opts.onProgress);
    emit({ layer: '', downloadedBytes: 0, totalBytes: 0, imageDownloadedBytes: 0, imageTotalBytes: 0, phase: 'resolving' }, true);
    try {
      const resolved = await this.#resolve(t, opts.platform ?? DEFAULT_PLATFORM);
      const { manifest, digest } = resolved;
      const hex = hexOf(digest);
      this.#hold([hex]);
      try {
        const existing = this.#readRecord(digest);
        if (existing && existing.layers.every((l) => existsSync(join(this.paths.layers, hexOf(l.diffId))))) {
          this.#ensureLinks(existing);
          this.#addNames(digest, [ref.canonical]);
          this.touch(digest);
          const image = this.#toLocal(this.#readRecord(digest)!);
          emit({ layer: '', downloadedBytes: 0, totalBytes: 0, imageDownloadedBytes: 0, imageTotalBytes: 0, phase: 'done' }, true);
          return { image, downloadedBytes: 0, durationMs: Date.now() - started, alreadyPresent: true };
        }
        const configBody = await this.#fetchBlob(t, manifest.config);
        const config = this.#parseConfig(t, configBody, manifest);
        this.#checkLowerdir(t, manifest.layers.length);
        const layerHexes = [...config.diffIds, ...manifest.layers.map((l) => l.digest), manifest.config.digest].map(hexOf);
        this.#hold(layerHexes);
        try {
          const missing = manifest.layers.map((l, i) => ({ l, diffId: config.diffIds[i] })).filter(({ diffId }) => !existsSync(join(this.paths.layers, hexOf(diffId))));
          const imageTotal = missing.reduce((n, m) => n + m.l.size, 0);
          const done = new Map<string, number>();
          let networkBytes = 0;
          const report = (layer: Descriptor, downloaded: number, phase: PullProgress['phase']) => {
            done.set(layer.digest, downloaded);
            let sum = 0;
            for (const v of done.values()) sum += v;
            emit({ layer: layer.digest, downloadedBytes: downloaded, totalBytes: layer.size, imageDownloadedBytes: sum, imageTotalBytes: imageTotal, phase }, phase !== 'downloading');
          };
          // Every layer at once: #downloadLayer bounds the downloads; a layer whose bytes are all in frees
          // its slot while tar finishes, so a slow unpack (a layer of many small files) never holds up
          // the next download.
          const unpacked = await mapLimit(missing, missing.length, async ({ l, diffId }) => {
            const r = await this.#layer(t, l, diffId, (n) => report(l, n, n >= l.size ? 'unpacking' : 'downloading'));
            networkBytes += r.networkBytes;
            return r.layer;
          });
          const sizes = new Map(unpacked.map((u) => [u.diffId, u.unpackedSize]));
          const now = new Date().toISOString();
          const prior = this.#readRecord(digest);
          const record: ImageRecord = {
            digest,
            ...(resolved.indexDigest ? { indexDigest: resolved.indexDigest } : {}),
            configDigest: manifest.config.digest,
            platform: config.platform,
            config: { env: config.env, entrypoint: config.entrypoint, cmd: config.cmd, workingDir: config.workingDir, user: config.user },
            layers: manifest.layers.map((l, i) => ({
              digest: l.digest,
              diffId: config.diffIds[i],
              size: l.size,
              unpackedSize: sizes.get(config.diffIds[i]) ?? prior?.layers[i]?.unpackedSize ?? this.#layerSizeFromOthers(config.diffIds[i]),
              mediaType: l.mediaType,
            })),
            createdAt: prior?.createdAt ?? now,
            lastUsedAt: now,
          };
          this.#writeBlob(resolved.manifestBody, digest);
          if (resolved.indexBody && resolved.indexDigest) this.#writeBlob(resolved.indexBody, resolved.indexDigest);
          this.#ensureLinks(record);
          writeAtomic(this.#recordPath(digest), JSON.stringify(record, null, 1));
          this.#addNames(digest, [ref.canonical]);
          const image = this.#toLocal(record);
          emit({ layer: '', downloadedBytes: 0, totalBytes: 0, imageDownloadedBytes: imageTotal, imageTotalBytes: imageTotal, phase: 'done' }, true);
          return { image, downloadedBytes: networkBytes, durationMs: Date.now() - started, alreadyPresent: false };
        } finally {
          this.#unhold(layerHexes);
        }
      } finally {
        this.#unhold([hex]);
      }
    } catch (e) {
      throw this.#client.classify(t, e);
    }
  }

  async #resolve(t: RegistryTarget, platform: Platform): Promise<{ manifest: ImageManifest; digest: string; manifestBody: Buffer; indexDigest?: string; indexBody?: Buffer }> {
    const repo = t.ref.repository;
    const first = await this.#fetchManifest(t, manifestReference(t.ref), t.ref.digest);
    if (first.parsed.kind === 'manifest') return { manifest: first.parsed, digest: first.digest, manifestBody: first.body };
    const chosen = selectPlatform(first.parsed, platform);
    if (!chosen)
      throw new ImagePullError(t.image, 'NotFound', `no manifest for platform ${formatPlatform(platform)} in ${t.ref.canonical} (available: ${listPlatforms(first.parsed)})`);
    const second = await this.#fetchManifest(t, chosen.digest, chosen.digest);
    if (second.parsed.kind !== 'manifest') throw new ImagePullError(t.image, 'Unsupported', `${repo}@${chosen.digest} is a nested index, which is not supported`);
    return { manifest: second.parsed, digest: second.digest, manifestBody: second.body, indexDigest: first.digest, indexBody: first.body };
  }

  async #fetchManifest(t: RegistryTarget, reference: string, expected: string | undefined): Promise<{ parsed: ReturnType<typeof parseManifest>; digest: string; body: Buffer }> {
    const { body, headers } = await this.#client.getBuffer(t, `${t.ref.repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT }, 4 * 1024 * 1024);
    const digest = sha256(body);
    if (expected && digest !== expected)
      throw new ImagePullError(t.image, 'DigestMismatch', `manifest ${expected} from ${t.ref.registry} has digest ${digest}`);
    try {
      return { parsed: parseManifest(body, String(headers['content-type'] ?? '')), digest, body };
    } catch (e) {
      if (e instanceof ManifestError) throw new ImagePullError(t.image, e.unsupported ? 'Unsupported' : 'Unavailable', `${t.ref.canonical}: ${e.message}`);
      throw e;
    }
  }

  /** A small blob (the config), from the store or the registry; verified and stored. */
  async #fetchBlob(t: RegistryTarget, d: Descriptor): Promise<Buffer> {
    const path = join(this.paths.blobs, hexOf(d.digest));
    if (existsSync(path)) return readFileSync(path);
    const { body } = await this.#client.getBuffer(t, `${t.ref.repository}/blobs/${d.digest}`, {}, 64 * 1024 * 1024);
    const got = sha256(body);
    if (got !== d.digest) throw new ImagePullError(t.image, 'DigestMismatch', `blob ${d.digest} from ${t.ref.registry} has digest ${got}; discarded`);
    this.#writeBlob(body, d.digest);
    return body;
  }

  #parseConfig(t: RegistryTarget, body: Buffer, manifest: ImageManifest): ImageConfigBlob {
    let config: ImageConfigBlob;
    try {
      config = parseImageConfig(body);
    } catch (e) {
      throw new ImagePullError(t.image, 'Unsupported', `${t.ref.canonical}: ${(e as Error).message}`);
    }
    if (config.diffIds.length !== manifest.layers.length)
      throw new ImagePullError(t.image, 'Unsupported', `${t.ref.canonical}: the manifest lists ${manifest.layers.length} layers but the config ${config.diffIds.length} diff_ids`);
    return config;
  }

  #checkLowerdir(t: { image: string }, layers: number): void {
    const len = Math.max(1, layers) * (join(this.root, 'l').length + 2 + SHORT_ID);
    if (len > MAX_LOWERDIR)
      throw new ImagePullError(t.image, 'Unsupported', `the image has ${layers} layers: their overlay lowerdir (${len} bytes under ${this.root}) exceeds the ${MAX_LOWERDIR} bytes a mount's option page leaves for it`);
  }

  /**
   * One layer, single-flight by diff_id: joins a download of the same layer already running here. A joined
   * download that fails is retried once as our own: it ran with the other pull's credentials, transport
   * settings and cancellation signal, none of which are ours.
   */
  async #layer(t: RegistryTarget, d: Descriptor, diffId: string, onBytes: (n: number) => void): Promise<{ layer: UnpackedLayer; networkBytes: number }> {
    const key = hexOf(diffId);
    for (let own = false; ; ) {
      let job = this.#jobs.get(key);
      const joined = job !== undefined && !own;
      if (!job || own) {
        const listeners = new Set<(n: number) => void>();
        const j: LayerJob = {
          listeners,
          networkBytes: 0,
          promise: this.#downloadLayer(t, d, diffId, (n, net) => {
            j.networkBytes = net;
            for (const f of listeners) f(n);
          }).finally(() => {
            if (this.#jobs.get(key) === j) this.#jobs.delete(key);
          }),
        };
        job = j;
        this.#jobs.set(key, job);
      }
      job.listeners.add(onBytes);
      try {
        const layer = await job.promise;
        onBytes(d.size);
        return { layer, networkBytes: joined ? 0 : job.networkBytes };
      } catch (e) {
        if (!joined || t.signal?.aborted) throw e;
        own = true;
      } finally {
        job.listeners.delete(onBytes);
      }
    }
  }

  async #downloadLayer(t: RegistryTarget, d: Descriptor, diffId: string, onBytes: (offset: number, networkBytes: number) => void): Promise<UnpackedLayer> {
    const dir = join(this.paths.layers, hexOf(diffId));
    const target = { image: t.image, digest: d.digest, size: d.size, diffId };
    if (existsSync(dir)) return { digest: d.digest, size: d.size, diffId, unpackedSize: this.#layerSizeFromOthers(diffId), dir };
    const blob = join(this.paths.blobs, hexOf(d.digest));
    if (existsSync(blob)) {
      // The blob survived but its layer did not (removed, or a crash between renames): unpack locally.
      const u = await LayerUnpacker.open(this.paths, target, { resume: false, keepBlob: false });
      return this.#feedFile(u, blob);
    }
    const release = await this.#downloadSlots.acquire(t.signal);
    try {
      return await this.#downloadLayerInSlot(t, d, target, release, onBytes);
    } finally {
      release();
    }
  }

  /**
   * The network part of #downloadLayer, holding a download slot: `release` is called as soon as the
   * last byte is in, before the unpacker's tail (the decompressor draining, tar exiting, whiteouts).
   */
  async #downloadLayerInSlot(
    t: RegistryTarget,
    d: Descriptor,
    target: LayerTarget,
    release: () => void,
    onBytes: (offset: number, networkBytes: number) => void,
  ): Promise<UnpackedLayer> {
    let networkBytes = 0;
    for (let restart = 0; ; restart++) {
      const u = await LayerUnpacker.open(this.paths, target, { resume: restart === 0, keepBlob: true });
      let seen = u.offset;
      try {
        onBytes(u.offset, networkBytes);
        await this.#client.withRetry(
          t,
          async () => {
            const start = u.offset;
            if (start >= d.size) return;
            const res = await this.#client.get(t, `${t.ref.repository}/blobs/${d.digest}`, start > 0 ? { Range: `bytes=${start}-` } : {}, { lean: true });
            let skip = rangeSkip(t.image, res, start);
            // The file, the decompressor and tar are handed ≥ WRITE_BATCH at a time, which cuts their per-write
            // thread-pool round trips (measured: ~15% less CPU per pull). lean-http's chunks are ~1 MiB and
            // pass as they are; node:http's (a fallback) are ≤ 64 KiB and are gathered.
            let batch: Buffer[] = [];
            let batched = 0;
            const flush = async () => {
              if (batched === 0) return;
              const chunk = batch.length === 1 ? batch[0] : Buffer.concat(batch, batched);
              // A lean-http chunk passed on whole goes back to its slab pool once the unpacker is done with it.
              const recycle = batch.length === 1 && res.recycle ? () => res.recycle!(chunk) : undefined;
              batch = [];
              batched = 0;
              await u.write(chunk, recycle);
              networkBytes += chunk.length;
              onBytes(u.offset, networkBytes);
            };
            try {
              for await (let chunk of res as AsyncIterable<Buffer>) {
                if (skip > 0) {
                  if (chunk.length <= skip) {
                    skip -= chunk.length;
                    continue;
                  }
                  chunk = chunk.subarray(skip);
                  skip = 0;
                }
                batch.push(chunk);
                batched += chunk.length;
                if (batched >= WRITE_BATCH) await flush();
              }
            } finally {
              // What arrived before a cut is kept: the resume starts after it.
              await flush();
            }
            if (u.offset < d.size)
              throw new ImagePullError(t.image, 'Unavailable', `blob ${d.digest} from ${t.ref.registry} ended after ${u.offset} of ${d.size} bytes`, { retryable: true });
          },
          () => {
            const moved = u.offset > seen;
            seen = u.offset;
            return moved;
          },
        );
        release();
        return await u.finish();
      } catch (e) {
        const err = this.#client.classify(t, e);
        await u.abort({ keepPartial: err.code !== 'DigestMismatch' && err.status !== 416 });
        // 416: the registry cannot serve our resume point (the partial file is not a prefix it knows).
        if (err.status === 416 && restart === 0) continue;
        throw err;
      }
    }
  }

  async #feedFile(u: LayerUnpacker, file: string): Promise<UnpackedLayer> {
    try {
      for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) await u.write(chunk);
    } catch (e) {
      await u.abort();
      throw e;
    }
    return u.finish();
  }

  #layerSizeFromOthers(diffId: string): number {
    for (const r of this.#records()) for (const l of r.layers) if (l.diffId === diffId) return l.unpackedSize;
    return 0;
  }

  // ---------------------------------------------------------------- local lookups

  get(nameOrDigest: string): LocalImage | undefined {
    const digest = this.#resolveLocal(nameOrDigest);
    if (!digest) return undefined;
    const r = this.#readRecord(digest);
    return r ? this.#toLocal(r) : undefined;
  }

  list(): LocalImage[] {
    const names = this.#readNames();
    return this.#records()
      .map((r) => this.#toLocal(r, names))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** Manifest digest for a name, a digest, a `repo@digest` reference, or a unique hex prefix (≥ 12). */
  #resolveLocal(nameOrDigest: string): string | undefined {
    const s = nameOrDigest.trim();
    const records = () => this.#records();
    if (DIGEST_PATTERN.test(s)) return records().find((r) => r.digest === s || r.indexDigest === s || r.configDigest === s)?.digest;
    if (/^[a-f0-9]{12,64}$/.test(s)) {
      const hits = records().filter((r) => hexOf(r.digest).startsWith(s) || hexOf(r.configDigest).startsWith(s));
      if (hits.length === 1) return hits[0].digest;
    }
    let ref: ImageReference;
    try {
      ref = parseImageReference(s);
    } catch (e) {
      if (e instanceof InvalidImageReferenceError) return undefined;
      throw e;
    }
    const names = this.#readNames();
    if (names[ref.canonical]) return names[ref.canonical];
    if (ref.digest) {
      const r = records().find((x) => x.digest === ref.digest || x.indexDigest === ref.digest);
      if (r) return r.digest;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- leases, use, removal

  lease(digest: string, holder: string): void {
    const d = DIGEST_PATTERN.test(digest) ? digest : (this.#resolveLocal(digest) ?? digest);
    writeAtomic(this.#leasePath(holder), d);
  }

  release(holder: string): void {
    rmSync(this.#leasePath(holder), { force: true });
  }

  touch(digest: string): void {
    const d = this.#resolveLocal(digest);
    const r = d ? this.#readRecord(d) : undefined;
    if (!r) return;
    r.lastUsedAt = new Date().toISOString();
    writeAtomic(this.#recordPath(r.digest), JSON.stringify(r, null, 1));
  }

  async remove(nameOrDigest: string, opts: { force?: boolean } = {}): Promise<void> {
    const digest = this.#resolveLocal(nameOrDigest);
    if (!digest) throw new ImageNotFoundError(nameOrDigest);
    const names = this.#readNames();
    const byName = Object.keys(names).find((n) => names[n] === digest && this.#matchesName(nameOrDigest, n));
    const remaining = Object.keys(names).filter((n) => names[n] === digest && n !== byName);
    // Untagging one of several names never touches the content, so it is allowed while the image is in use.
    const dropsContent = !byName || remaining.length === 0;
    const holders = this.#holders(digest);
    if (dropsContent && holders.length && !opts.force) throw new ImageInUseError(nameOrDigest, holders);
    this.#updateNames((n) => {
      for (const k of Object.keys(n)) if (n[k] === digest && (!byName || k === byName)) delete n[k];
    });
    if (dropsContent && holders.length === 0) this.#deleteImages([digest]);
  }

  #matchesName(input: string, canonical: string): boolean {
    try {
      return parseImageReference(input).canonical === canonical;
    } catch {
      return false;
    }
  }

  /** Lease holders and mount points that keep `digest` alive. */
  #holders(digest: string): string[] {
    const holders = this.leases().filter(([, d]) => d === digest).map(([h]) => `lease ${h}`);
    const r = this.#readRecord(digest);
    if (r) {
      const mounted = this.#mountedLayers();
      if (r.layers.some((l) => mounted.has(hexOf(l.diffId)))) holders.push('a mounted overlay');
    }
    return holders;
  }

  async gc(opts: { budgetBytes: number }): Promise<{ removedImages: string[]; freedBytes: number }> {
    const mounted = this.#mountedLayers();
    const leased = new Set(this.leases().map(([, d]) => d));
    const names = this.#readNames();
    const named = new Set(Object.values(names));
    let freed = this.#deleteOrphans(mounted);
    const removed: string[] = [];
    const records = this.#records();
    const usage = () => this.#usage(this.#records());
    let used = usage();
    const candidates = records
      .filter((r) => !leased.has(r.digest) && !r.layers.some((l) => mounted.has(hexOf(l.diffId))) && !this.#pending.has(hexOf(r.digest)))
      .sort((a, b) => Number(named.has(a.digest)) - Number(named.has(b.digest)) || (a.lastUsedAt < b.lastUsedAt ? -1 : a.lastUsedAt > b.lastUsedAt ? 1 : 0));
    for (const r of candidates) {
      if (used <= opts.budgetBytes) break;
      this.#updateNames((n) => {
        for (const k of Object.keys(n)) if (n[k] === r.digest) delete n[k];
      });
      this.#deleteImages([r.digest]);
      removed.push(r.digest);
      const now = usage();
      freed += Math.max(0, used - now);
      used = now;
    }
    return { removedImages: removed, freedBytes: freed };
  }

  /** Bytes the images' content takes on disk: distinct blobs plus distinct unpacked layers (what gc budgets). */
  usedBytes(): number {
    return this.#usage(this.#records());
  }

  /** Bytes the store's referenced content takes: distinct blobs plus distinct unpacked layers. */
  #usage(records: ImageRecord[]): number {
    const blobs = new Set<string>();
    const layers = new Map<string, number>();
    for (const r of records) {
      blobs.add(hexOf(r.digest)).add(hexOf(r.configDigest));
      if (r.indexDigest) blobs.add(hexOf(r.indexDigest));
      for (const l of r.layers) {
        blobs.add(hexOf(l.digest));
        layers.set(hexOf(l.diffId), l.unpackedSize);
      }
    }
    let n = 0;
    for (const b of blobs) n += tryStat(join(this.paths.blobs, b))?.size ?? 0;
    for (const v of layers.values()) n += v;
    return n;
  }

  /** Deletes image records and whatever of their content no other record, mount or pull still uses. */
  #deleteImages(digests: string[]): void {
    const gone = new Set(digests);
    const doomed = digests.map((d) => this.#readRecord(d)).filter((r): r is ImageRecord => r !== undefined);
    for (const d of digests) rmSync(this.#recordPath(d), { force: true });
    const keep = this.#referenced(this.#records().filter((r) => !gone.has(r.digest)));
    const mounted = this.#mountedLayers();
    for (const r of doomed) {
      for (const b of [r.digest, r.configDigest, r.indexDigest, ...r.layers.map((l) => l.digest)]) {
        if (!b) continue;
        const hex = hexOf(b);
        if (!keep.blobs.has(hex) && !this.#pending.has(hex)) rmSync(join(this.paths.blobs, hex), { force: true });
      }
      for (const l of r.layers) {
        const hex = hexOf(l.diffId);
        if (!keep.layers.has(hex) && !mounted.has(hex) && !this.#pending.has(hex)) this.#deleteLayer(hex);
      }
    }
  }

  #deleteLayer(hex: string): void {
    rmSync(join(this.root, 'l', hex.slice(0, SHORT_ID)), { force: true });
    const dir = join(this.paths.layers, hex);
    if (!existsSync(dir)) return;
    // Rename first, so a reader never sees a half-deleted layer under its real name.
    const trash = `${dir}.tmp-${process.pid}-rm${Math.random().toString(36).slice(2, 8)}`;
    renameSync(dir, trash);
    rmSync(trash, { recursive: true, force: true });
  }

  #referenced(records: ImageRecord[]): { blobs: Set<string>; layers: Set<string> } {
    const blobs = new Set<string>();
    const layers = new Set<string>();
    for (const r of records) {
      for (const b of [r.digest, r.configDigest, r.indexDigest, ...r.layers.map((l) => l.digest)]) if (b) blobs.add(hexOf(b));
      for (const l of r.layers) layers.add(hexOf(l.diffId));
    }
    return { blobs, layers };
  }

  /** Unreferenced blobs and layers older than the grace period (younger ones may be another pull's). */
  #deleteOrphans(mounted: Set<string>): number {
    const keep = this.#referenced(this.#records());
    const old = (p: string) => {
      const st = tryStat(p);
      return st !== undefined && Date.now() - st.ctimeMs > ORPHAN_GRACE_MS;
    };
    let freed = 0;
    for (const hex of readdirSync(this.paths.blobs)) {
      if (!/^[a-f0-9]{64}$/.test(hex) || keep.blobs.has(hex) || this.#pending.has(hex)) continue;
      const p = join(this.paths.blobs, hex);
      if (!old(p)) continue;
      freed += tryStat(p)?.size ?? 0;
      rmSync(p, { force: true });
    }
    for (const hex of readdirSync(this.paths.layers)) {
      if (!/^[a-f0-9]{64}$/.test(hex) || keep.layers.has(hex) || mounted.has(hex) || this.#pending.has(hex)) continue;
      if (!old(join(this.paths.layers, hex))) continue;
      this.#deleteLayer(hex);
    }
    for (const link of readdirSync(join(this.root, 'l'))) {
      const p = join(this.root, 'l', link);
      if (!existsSync(p)) rmSync(p, { force: true });
    }
    // Resumable downloads nobody came back for (a pull that failed long ago); a held lock means one is running.
    for (const name of readdirSync(this.paths.ingest)) {
      const m = /^([a-f0-9]{64})\.partial$/.exec(name);
      if (!m || this.#pending.has(m[1]) || existsSync(join(this.paths.ingest, `${m[1]}.lock`))) continue;
      const p = join(this.paths.ingest, name);
      const st = tryStat(p);
      if (!st || Date.now() - st.mtimeMs <= ORPHAN_GRACE_MS) continue;
      freed += st.size;
      rmSync(p, { force: true });
    }
    cleanStale(this.paths);
    return freed;
  }

  /** diff_id hexes of the store's layers that a mounted overlay lists in its lowerdir. */
  #mountedLayers(): Set<string> {
    const out = new Set<string>();
    const links = join(this.root, 'l') + '/';
    const layers = this.paths.layers + '/';
    for (const dir of mountedLowerDirs()) {
      if (dir.startsWith(links)) {
        try {
          out.add(basename(readlinkSync(dir.replace(/\/+$/, ''))));
        } catch {
          // a dangling link: its layer is gone already
        }
      } else if (dir.startsWith(layers)) {
        out.add(dir.slice(layers.length).split('/')[0]);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- import

  async import(path: string, opts: { name?: string } = {}): Promise<LocalImage[]> {
    const abs = resolve(path);
    const st = tryStat(abs);
    if (!st) throw new ImageImportError(path, 'no such file or directory');
    if (st.isDirectory()) {
      if (!existsSync(join(abs, 'index.json'))) throw new ImageImportError(path, 'a directory must be an OCI image layout (index.json, blobs/sha256/…)');
      return this.#importLayout(abs, path, opts.name);
    }
    const tmp = mkdtempSync(join(this.paths.ingest, `import-${process.pid}-`));
    try {
      await runTar(['-x', '-f', abs, '-C', tmp]);
      if (existsSync(join(tmp, 'index.json')) && existsSync(join(tmp, 'oci-layout'))) return await this.#importLayout(tmp, path, opts.name);
      if (existsSync(join(tmp, 'manifest.json'))) return await this.#importDockerArchive(tmp, path, opts.name);
      throw new ImageImportError(path, 'the tarball has neither manifest.json (docker save) nor index.json (OCI layout)');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  async #importLayout(dir: string, path: string, name: string | undefined): Promise<LocalImage[]> {
    const readBlob = (digest: string): Buffer => {
      if (!DIGEST_PATTERN.test(digest)) throw new ImageImportError(path, `unsupported digest ${digest}`);
      const file = join(dir, 'blobs', 'sha256', hexOf(digest));
      if (!existsSync(file)) throw new ImageImportError(path, `blob ${digest} is missing`);
      const body = readFileSync(file);
      if (sha256(body) !== digest) throw new ImageImportError(path, `blob ${digest} does not match its digest`);
      return body;
    };
    let index;
    try {
      index = parseManifest(readFileSync(join(dir, 'index.json')), MEDIA.ociIndex);
    } catch (e) {
      throw new ImageImportError(path, `index.json: ${(e as Error).message}`);
    }
    if (index.kind !== 'index') throw new ImageImportError(path, 'index.json is not an image index');
    const out: LocalImage[] = [];
    for (const entry of index.manifests) {
      let digest = entry.digest;
      let body = readBlob(digest);
      let indexDigest: string | undefined;
      let parsed = parseManifest(body, entry.mediaType);
      if (parsed.kind === 'index') {
        const chosen = selectPlatform(parsed, DEFAULT_PLATFORM) ?? parsed.manifests[0];
        if (!chosen) continue;
        indexDigest = digest;
        this.#writeBlob(body, digest);
        digest = chosen.digest;
        body = readBlob(digest);
        parsed = parseManifest(body, chosen.mediaType);
        if (parsed.kind !== 'manifest') throw new ImageImportError(path, `${digest} is a nested index`);
      }
      const annotated = entry.annotations?.['io.containerd.image.name'] ?? entry.annotations?.['org.opencontainers.image.ref.name'];
      const imageName = (out.length === 0 ? name : undefined) ?? (annotated && annotated.includes('/') ? annotated : undefined);
      const layerFile = (d: Descriptor) => join(dir, 'blobs', 'sha256', hexOf(d.digest));
      out.push(await this.#importManifest(path, parsed, body, digest, indexDigest, readBlob(parsed.config.digest), layerFile, imageName ? [imageName] : []));
    }
    if (out.length === 0) throw new ImageImportError(path, 'the layout names no image');
    return out;
  }

  async #importDockerArchive(dir: string, path: string, name: string | undefined): Promise<LocalImage[]> {
    let entries: { Config: string; RepoTags?: string[] | null; Layers: string[] }[];
    try {
      entries = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    } catch (e) {
      throw new ImageImportError(path, `manifest.json: ${(e as Error).message}`);
    }
    if (!Array.isArray(entries) || entries.length === 0) throw new ImageImportError(path, 'manifest.json lists no image');
    const inside = (p: string) => {
      const full = resolve(dir, p);
      if (!full.startsWith(dir + '/')) throw new ImageImportError(path, `${p} points outside the archive`);
      return full;
    };
    const out: LocalImage[] = [];
    for (const e of entries) {
      const configBody = readFileSync(inside(e.Config));
      const configDigest = sha256(configBody);
      // docker save has no manifest; an OCI manifest is synthesised (as podman does), so the image has a
      // digest like any pulled one. Layer digests are those of the layer files as stored.
      const layers: Descriptor[] = [];
      for (const l of e.Layers) {
        const file = inside(l);
        layers.push({ mediaType: compressionMedia(await fileHead(file)), digest: await fileDigest(file), size: statSync(file).size });
      }
      const manifestObj = {
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configBody.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      };
      const body = Buffer.from(JSON.stringify(manifestObj));
      const manifest = parseManifest(body) as ImageManifest;
      const files = new Map(layers.map((l, i) => [l.digest, inside(e.Layers[i])]));
      const names = out.length === 0 && name ? [name] : (e.RepoTags ?? []);
      out.push(await this.#importManifest(path, manifest, body, sha256(body), undefined, configBody, (d) => files.get(d.digest)!, names));
    }
    return out;
  }

  async #importManifest(
    path: string,
    manifest: ImageManifest,
    body: Buffer,
    digest: string,
    indexDigest: string | undefined,
    configBody: Buffer,
    layerFile: (d: Descriptor) => string,
    names: string[],
  ): Promise<LocalImage> {
    let config: ImageConfigBlob;
    try {
      config = parseImageConfig(configBody);
    } catch (e) {
      throw new ImageImportError(path, (e as Error).message);
    }
    if (config.diffIds.length !== manifest.layers.length) throw new ImageImportError(path, `the manifest lists ${manifest.layers.length} layers but the config ${config.diffIds.length} diff_ids`);
    const canonical = names.map((n) => {
      try {
        return parseImageReference(n).canonical;
      } catch (e) {
        throw new ImageImportError(path, (e as Error).message);
      }
    });
    try {
      this.#checkLowerdir({ image: path }, manifest.layers.length);
    } catch (e) {
      throw new ImageImportError(path, (e as Error).message);
    }
    const hexes = [hexOf(digest), ...config.diffIds.map(hexOf), ...manifest.layers.map((l) => hexOf(l.digest))];
    this.#hold(hexes);
    try {
      const sizes: number[] = [];
      for (const [i, l] of manifest.layers.entries()) {
        const diffId = config.diffIds[i];
        if (existsSync(join(this.paths.layers, hexOf(diffId)))) {
          sizes.push(this.#layerSizeFromOthers(diffId));
          continue;
        }
        const file = layerFile(l);
        if (!existsSync(file)) throw new ImageImportError(path, `layer ${l.digest} is missing`);
        const u = await LayerUnpacker.open(this.paths, { image: path, digest: l.digest, size: l.size, diffId }, { resume: false, keepBlob: !existsSync(join(this.paths.blobs, hexOf(l.digest))) });
        sizes.push((await this.#feedFile(u, file)).unpackedSize);
      }
      this.#writeBlob(configBody, manifest.config.digest);
      this.#writeBlob(body, digest);
      const now = new Date().toISOString();
      const prior = this.#readRecord(digest);
      const record: ImageRecord = {
        digest,
        ...(indexDigest ? { indexDigest } : {}),
        configDigest: manifest.config.digest,
        platform: config.platform,
        config: { env: config.env, entrypoint: config.entrypoint, cmd: config.cmd, workingDir: config.workingDir, user: config.user },
        layers: manifest.layers.map((l, i) => ({ digest: l.digest, diffId: config.diffIds[i], size: l.size, unpackedSize: sizes[i], mediaType: l.mediaType })),
        createdAt: prior?.createdAt ?? now,
        lastUsedAt: now,
      };
      this.#ensureLinks(record);
      writeAtomic(this.#recordPath(digest), JSON.stringify(record, null, 1));
      if (canonical.length) this.#addNames(digest, canonical);
      return this.#toLocal(record);
    } catch (e) {
      if (e instanceof ImagePullError) throw new ImageImportError(path, e.message);
      throw e;
    } finally {
      this.#unhold(hexes);
    }
  }

  // ---------------------------------------------------------------- records, names, links

  #recordPath(digest: string): string {
    return join(this.root, 'images', `${hexOf(digest)}.json`);
  }

  #readRecord(digest: string): ImageRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.#recordPath(digest), 'utf8')) as ImageRecord;
    } catch {
      return undefined;
    }
  }

  #records(): ImageRecord[] {
    const dir = join(this.root, 'images');
    return readdirSync(dir)
      .filter((n) => /^[a-f0-9]{64}\.json$/.test(n))
      .map((n) => this.#readRecord(`sha256:${n.slice(0, 64)}`))
      .filter((r): r is ImageRecord => r !== undefined);
  }

  #writeBlob(body: Buffer, digest: string): void {
    const p = join(this.paths.blobs, hexOf(digest));
    if (!existsSync(p)) writeAtomic(p, body);
  }

  #readNames(): Record<string, string> {
    try {
      return JSON.parse(readFileSync(join(this.root, 'names.json'), 'utf8')) as Record<string, string>;
    } catch {
      return {};
    }
  }

  /** Read-modify-write of names.json under an O_EXCL lock file (a holder dead for 10 s is overruled). */
  #updateNames(fn: (names: Record<string, string>) => void): void {
    const lock = join(this.root, 'names.lock');
    for (let waited = 0; ; waited += 5) {
      try {
        closeSync(openSync(lock, 'wx'));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const st = tryStat(lock);
        if (st && Date.now() - st.mtimeMs > 10_000) rmSync(lock, { force: true });
        else sleepSync(5);
      }
    }
    try {
      const names = this.#readNames();
      fn(names);
      writeAtomic(join(this.root, 'names.json'), JSON.stringify(names, null, 1));
    } finally {
      rmSync(lock, { force: true });
    }
  }

  #addNames(digest: string, names: string[]): void {
    this.#updateNames((n) => {
      for (const name of names) n[name] = digest;
    });
  }

  #leasePath(holder: string): string {
    return join(this.root, 'leases', encodeURIComponent(holder));
  }

  /** Every lease as `[holder, digest]` (a lease written by another process, e.g. the agent, included). */
  leases(): [holder: string, digest: string][] {
    const dir = join(this.root, 'leases');
    return readdirSync(dir)
      .filter((n) => !n.includes('.tmp-'))
      .map((n): [string, string] => {
        try {
          return [decodeURIComponent(n), readFileSync(join(dir, n), 'utf8').trim()];
        } catch {
          return [decodeURIComponent(n), ''];
        }
      });
  }

  #ensureLinks(r: ImageRecord): void {
    for (const l of r.layers) {
      const hex = hexOf(l.diffId);
      const link = join(this.root, 'l', hex.slice(0, SHORT_ID));
      const target = join('..', 'layers', hex);
      let current: string | undefined;
      try {
        current = readlinkSync(link);
      } catch {
        current = undefined;
      }
      if (current === target) continue;
      if (current !== undefined) throw new Error(`layer link ${link} points to ${current}, not ${target} (a ${SHORT_ID}-hex prefix collision)`);
      try {
        symlinkSync(target, link);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
  }

  #toLocal(r: ImageRecord, names: Record<string, string> = this.#readNames()): LocalImage {
    const layers = r.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, unpackedSize: l.unpackedSize, dir: join(this.paths.layers, hexOf(l.diffId)) }));
    let lowerdir = r.layers
      .map((l) => join(this.root, 'l', hexOf(l.diffId).slice(0, SHORT_ID)))
      .reverse()
      .join(':');
    if (r.layers.length === 0) {
      // overlayfs needs a lower directory; an image without layers gets an empty one.
      const empty = join(this.root, 'l', 'empty');
      mkdirSync(empty, { recursive: true });
      lowerdir = empty;
    }
    return {
      names: Object.keys(names)
        .filter((n) => names[n] === r.digest)
        .sort(),
      digest: r.digest,
      ...(r.indexDigest ? { indexDigest: r.indexDigest } : {}),
      configDigest: r.configDigest,
      platform: r.platform,
      config: r.config,
      layers,
      size: r.layers.reduce((n, l) => n + l.size, 0),
      unpackedSize: r.layers.reduce((n, l) => n + l.unpackedSize, 0),
      lowerdir,
      createdAt: r.createdAt,
      lastUsedAt: r.lastUsedAt,
    };
  }

  #hold(hexes: string[]): void {
    for (const h of hexes) this.#pending.set(h, (this.#pending.get(h) ?? 0) + 1);
  }

  #unhold(hexes: string[]): void {
    for (const h of hexes) {
      const n = (this.#pending.get(h) ?? 1) - 1;
      if (n <= 0) this.#pending.delete(h);
      else this.#pending.set(h, n);
    }
  }
}

/** Bytes to drop from a response to a `Range: bytes=<start>-` request (a 200 ignores Range and starts at 0). */
function rangeSkip(image: string, res: RegistryResponse, start: number): number {
  if (start === 0) return 0;
  if (res.statusCode === 206) {
    const m = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    const from = m ? Number(m[1]) : start;
    if (from > start) {
      res.destroy();
      throw new ImagePullError(image, 'Unavailable', `registry resumed at byte ${from}, after the ${start} bytes we have`, { status: 416, retryable: false });
    }
    return start - from;
  }
  return start;
}

function progressEmitter(onProgress: PullOptions['onProgress']): (p: PullProgress, force: boolean) => void {
  if (!onProgress) return () => undefined;
  const last = new Map<string, number>();
  return (p, force) => {
    const now = Date.now();
    if (!force && now - (last.get(p.layer) ?? 0) < PROGRESS_INTERVAL_MS) return;
    last.set(p.layer, now);
    try {
      onProgress(p);
    } catch {
      // A failing progress consumer must not fail the pull.
    }
  };
}

/** A counting semaphore: `acquire` resolves with its `release` (idempotent) once a slot is free. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = this.#waiting.indexOf(go);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(signal!.reason);
        };
        const go = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        if (signal?.aborted) return reject(signal.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(go);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
  return out;
}

function compressionMedia(head: Buffer): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return MEDIA.ociLayerGzip;
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return MEDIA.ociLayerZstd;
  return MEDIA.ociLayer;
}

async function fileHead(file: string): Promise<Buffer> {
  for await (const c of createReadStream(file, { start: 0, end: 3 }) as AsyncIterable<Buffer>) return c;
  return Buffer.alloc(0);
}

async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

function runTar(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`tar ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}
