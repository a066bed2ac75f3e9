// The host agent's image-cache reconciler: builds the image caches of its region (ECI CreateImageCache /
// UpdateImageCache) in this host's image store and keeps them there.
//
// Loop (level-based, STYLE.md 4): every sync() re-reads the caches of the region, plans each one for this
// host (src/core/image-cache.ts planHostCache: pull, pin, unpin or nothing), and applies the plan through
// two ports only, the store and the CacheImagePuller. It writes what it observed onto the cache row:
// Hosts[hostId] (Pulling → Ready | Failed, with the digests), the cache's status (Preparing → Creating →
// Ready | Failed; Updating → Ready | UpdateFailed), Progress (`n%` of the images) and events (Pulling,
// Pulled, Failed with the registry's own text, Created/Updated).
//
// Contracts:
// - Every write is an optimistic-version update of the cache row, retried on OperationConflict (another
//   host or an API call wrote meanwhile) with fresh reads; a cache that was deleted or given a new
//   Generation while this host pulled is left alone (the next sync plans again).
// - No retry storm: a cache that Failed is never pulled again, and a host whose own record is Failed for
//   the current Generation does not try again; UpdateImageCache (a new Generation) is the way to retry.
// - The first outcome of a Generation decides the cache's status: the first host to hold every image makes
//   it Ready; a failure makes it Failed (UpdateFailed) only while no host holds it. Other hosts of the
//   zone still pull a Ready cache, so that each of them can start its groups from it.
// - Images are pinned (the puller's pin, a lease in the image store) before the cache is reported Ready
//   here, and released when the cache is deleted, expires, or leaves this host's zone.
// - sync() calls do not overlap: a call during a pass returns that pass's promise.

import { BUILDING, digestsOf, FAILED_RETENTION_MS, GIB, imageKey, planHostCache, progressText } from '../core/image-cache.ts';
import { ApiError } from '../core/errors.ts';
import { KIND, type ImageCacheData, type ImageCacheHostRecord, type ImageCacheStatus, type RegistryCredentialSpec } from '../core/model.ts';
import { rfc3339 } from '../core/time.ts';
import type { Resource, Store } from '../store/store.ts';

export interface CachePullOptions {
  /** Matched by Server against the image's registry. */
  readonly credentials: readonly RegistryCredentialSpec[];
  /** host[:port] spoken to over plain HTTP. */
  readonly plainHttpRegistries: readonly string[];
  /** host[:port] spoken to over HTTPS without certificate verification. */
  readonly insecureRegistries: readonly string[];
}

/**
 * The image store as this reconciler needs it (the agent backs it with the host's ImageStore: pin = lease).
 * pull: resolves and downloads what is missing, idempotent; rejects with an Error whose message is what a
 * user needs (the registry's own error text). pin: replaces the set of images the cache holds on this
 * host, so garbage collection keeps them; the digests were pulled on this host (maybe before a restart).
 * unpin: releases them (unpinning what is not pinned succeeds). pinnedCaches: the caches pinned now,
 * surviving agent restarts when the store's leases do.
 */
export interface CacheImagePuller {
  pull(image: string, opts: CachePullOptions): Promise<{ digest: string; size: number }>;
  pin(cacheId: string, digests: string[]): void;
  unpin(cacheId: string): void;
  pinnedCaches(): string[];
}

export interface ImageCacheSyncDeps {
  readonly store: Store;
  readonly hostId: string;
  readonly regionId: string;
  readonly zoneId: string;
  readonly puller: CacheImagePuller;
  readonly clock?: () => Date;
  readonly log?: (line: string) => void;
}

export interface ImageCacheSync {
  /** One pass over the region's caches; never rejects (failures land on the caches or in the log). */
  sync(): Promise<void>;
}

/**
 * The group event for a container whose image comes from a cache this host holds (the reference's kubelet
 * says the image is "already present on machine").
 */
export function cacheHitEvent(cacheId: string, image: string): { type: 'Normal'; reason: string; message: string } {
  return { type: 'Normal', reason: 'Pulled', message: `Container image "${image}" already present on machine (image cache ${cacheId}).` };
}

/** True when `hostId` holds the cache's current generation (pulled, pinned and Ready there). */
export function heldOnHost(d: Pick<ImageCacheData, 'Hosts' | 'Generation'>, hostId: string): boolean {
  const rec = d.Hosts[hostId];
  return rec !== undefined && rec.Generation === d.Generation && rec.Status === 'Ready';
}

/**
 * The manifest digest `hostId` holds for `image` (compared in canonical form) under the cache, or undefined
 * when the host does not hold the cache's current generation or the cache does not hold the image. A group
 * using the cache starts from this digest without asking the registry.
 */
export function cachedDigest(d: Pick<ImageCacheData, 'Hosts' | 'Generation' | 'Images'>, hostId: string, image: string): string | undefined {
  if (!heldOnHost(d, hostId)) return undefined;
  const key = imageKey(image);
  const cached = d.Images.find((i) => imageKey(i) === key);
  return cached === undefined ? undefined : d.Hosts[hostId].Digests[cached];
}

const MAX_ATTEMPTS = 10;

interface CacheEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export function createImageCacheSync(deps: ImageCacheSyncDeps): ImageCacheSync {
  const clock = deps.clock ?? (() => new Date());
  const log = deps.log ?? (() => {});
  let running: Promise<void> | undefined;

  /**
   * Applies `change` to the fresh row and writes it with its events. `change` returns false to write
   * nothing (the row moved on: gone, or another generation). Returns whether it wrote.
   */
  async function mutate(id: string, change: (c: Resource<ImageCacheData>, nowText: string) => CacheEvent[] | false): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await deps.store.tx(async (tx) => {
          const c = await tx.get<ImageCacheData>(KIND.imageCache, id);
          if (!c) return false;
          const nowText = rfc3339(clock());
          const events = change(c, nowText);
          if (events === false) return false;
          await tx.update(c);
          for (const e of events) await tx.addEvent(c.account, { resourceId: c.id, ...e }, nowText);
          return true;
        });
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 'OperationConflict') || attempt >= MAX_ATTEMPTS) throw e;
      }
    }
  }

  const record = (c: Resource<ImageCacheData>, rec: ImageCacheHostRecord) => {
    c.data = { ...c.data, Hosts: { ...c.data.Hosts, [deps.hostId]: rec } };
  };
  const setStatus = (c: Resource<ImageCacheData>, status: ImageCacheStatus, nowText: string) => {
    if (c.status === status) return;
    c.status = status;
    c.data = { ...c.data, StatusTime: nowText };
  };
  const building = (c: Resource<ImageCacheData>) => BUILDING.has(c.status as ImageCacheStatus);

  /** Pulls every image of the cache's current generation on this host, then pins them and reports. */
  async function build(cache: Resource<ImageCacheData>): Promise<void> {
    const gen = cache.data.Generation;
    const images = cache.data.Images;
    const opts: CachePullOptions = {
      credentials: cache.data.ImageRegistryCredentials,
      plainHttpRegistries: cache.data.PlainHttpRegistries,
      insecureRegistries: cache.data.InsecureRegistries,
    };
    const same = (c: Resource<ImageCacheData>) => c.data.Generation === gen;
    const digests: Record<string, string> = {};
    let size = 0;

    const started = await mutate(cache.id, (c, nowText) => {
      if (!same(c)) return false;
      record(c, { Generation: gen, Status: 'Pulling', Digests: {}, Size: 0, Message: '', Time: nowText });
      if (c.status === 'Preparing') setStatus(c, 'Creating', nowText);
      if (building(c)) c.data = { ...c.data, Progress: progressText(0, images.length) };
      return [];
    });
    if (!started) return;

    const fail = async (message: string) => {
      log(`image cache ${cache.id}: ${message}`);
      await mutate(cache.id, (c, nowText) => {
        if (!same(c)) return false;
        record(c, { Generation: gen, Status: 'Failed', Digests: digests, Size: size, Message: message, Time: nowText });
        const heldElsewhere = Object.values(c.data.Hosts).some((h) => h.Generation === gen && h.Status === 'Ready');
        if (building(c) && !heldElsewhere) {
          if (c.status === 'Updating') setStatus(c, 'UpdateFailed', nowText);
          else {
            setStatus(c, 'Failed', nowText);
            // The reference keeps a cache whose creation failed for 24 hours.
            const until = rfc3339(new Date(Date.parse(nowText) + FAILED_RETENTION_MS));
            if (!c.data.ExpireDateTime || c.data.ExpireDateTime > until) c.data = { ...c.data, ExpireDateTime: until };
          }
        }
        return [{ type: 'Warning', reason: 'Failed', message: `${message} (host ${deps.hostId})` }];
      });
    };

    for (const [n, image] of images.entries()) {
      const moved = !(await mutate(cache.id, (c) => (same(c) ? [{ type: 'Normal', reason: 'Pulling', message: `Pulling image "${image}" (host ${deps.hostId}).` }] : false)));
      if (moved) return;
      const t0 = clock().getTime();
      let pulled: { digest: string; size: number };
      try {
        pulled = await deps.puller.pull(image, opts);
      } catch (e) {
        await fail(`Failed to pull image "${image}": ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      digests[image] = pulled.digest;
      size += pulled.size;
      const seconds = ((clock().getTime() - t0) / 1000).toFixed(1);
      const wrote = await mutate(cache.id, (c, nowText) => {
        if (!same(c)) return false;
        record(c, { Generation: gen, Status: 'Pulling', Digests: { ...digests }, Size: size, Message: '', Time: nowText });
        if (building(c)) c.data = { ...c.data, Progress: progressText(n + 1, images.length) };
        return [{ type: 'Normal', reason: 'Pulled', message: `Successfully pulled image "${image}" (${pulled.digest}, ${mib(pulled.size)}) in ${seconds}s (host ${deps.hostId}).` }];
      });
      if (!wrote) return;
    }

    if (size > cache.data.ImageCacheSize * GIB) {
      await fail(`The images total ${gib(size)}, more than the image cache size of ${cache.data.ImageCacheSize} GiB.`);
      return;
    }
    const rec: ImageCacheHostRecord = { Generation: gen, Status: 'Ready', Digests: digests, Size: size, Message: '', Time: '' };
    deps.puller.pin(cache.id, digestsOf(rec, images));
    const done = await mutate(cache.id, (c, nowText) => {
      if (!same(c)) return false;
      record(c, { ...rec, Time: nowText });
      if (!building(c)) return [];
      const updated = c.status === 'Updating';
      setStatus(c, 'Ready', nowText);
      c.data = { ...c.data, Progress: progressText(images.length, images.length) };
      return [{ type: 'Normal', reason: updated ? 'Updated' : 'Created', message: `The image cache is ready: ${images.length} image(s), ${mib(size)} (host ${deps.hostId}).` }];
    });
    // Gone or superseded while pulling: keep nothing of it (a new generation pins again when built).
    if (!done && !(await deps.store.get<ImageCacheData>(KIND.imageCache, cache.id))) deps.puller.unpin(cache.id);
  }

  async function pass(): Promise<void> {
    const nowText = rfc3339(clock());
    let caches: Resource<ImageCacheData>[];
    try {
      caches = await deps.store.list<ImageCacheData>({ kind: KIND.imageCache, region: deps.regionId });
    } catch (e) {
      log(`image caches: listing failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const byId = new Map(caches.map((c) => [c.id, c]));
    const pinned = new Set(deps.puller.pinnedCaches());
    for (const id of pinned) {
      if (byId.has(id)) continue;
      try {
        deps.puller.unpin(id);
        log(`image cache ${id}: gone; released its images`);
      } catch (e) {
        log(`image cache ${id}: releasing its images failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (const cache of caches) {
      const work = planHostCache(cache, deps.hostId, deps.zoneId, pinned.has(cache.id), nowText);
      try {
        if (work.kind === 'unpin') {
          deps.puller.unpin(cache.id);
          log(`image cache ${cache.id}: released its images (${cache.status}, expires ${cache.data.ExpireDateTime || 'never'}, zone ${cache.data.ZoneId || 'any'})`);
        } else if (work.kind === 'pin') {
          deps.puller.pin(cache.id, work.digests);
        } else if (work.kind === 'pull') {
          await build(cache);
        }
      } catch (e) {
        // A store failure mid-build: the next pass plans again from what was written.
        log(`image cache ${cache.id}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  return {
    sync() {
      running ??= pass().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;
