// Image caches, the pure part: which images a cache covers, which cache a container group uses, when a
// cache expires, and what one host agent has to do about one cache. No I/O and no clock: callers pass
// `now`. The API actions (src/api/actions/eci/*ImageCache*.ts) and the host agent's reconciler
// (src/agent/image-caches.ts) share these rules, so "matched" and "expired" mean the same everywhere.

import { parseImageReference } from './image-reference.ts';
import type { ImageCacheData, ImageCacheHostRecord, ImageCacheStatus } from './model.ts';

/** Statuses in which the host agents are (still) building the cache's current Generation. */
export const BUILDING: ReadonlySet<ImageCacheStatus> = new Set(['Preparing', 'Creating', 'Updating']);

/** Statuses UpdateImageCache accepts (the reference: "only Ready or UpdateFailed"). */
export const UPDATABLE: ReadonlySet<string> = new Set(['Ready', 'UpdateFailed']);

/** The reference keeps a cache whose creation failed for 24 hours. */
export const FAILED_RETENTION_MS = 24 * 3600 * 1000;

/** Default and bounds of ImageCacheSize (GiB), as the reference documents them. */
export const DEFAULT_CACHE_SIZE_GIB = 20;
export const MIN_CACHE_SIZE_GIB = 20;
export const MAX_CACHE_SIZE_GIB = 32768;
export const GIB = 1024 ** 3;

/**
 * The comparable form of an image name: its canonical reference (src/core/image-reference.ts), so that
 * `nginx`, `docker.io/library/nginx:latest` and `index.docker.io/library/nginx` are one image. An
 * unparsable name (only stored rows could hold one) compares as written.
 */
export function imageKey(name: string): string {
  try {
    return parseImageReference(name).canonical;
  } catch {
    return name.trim();
  }
}

/** True when the cache holds `image` (compared by imageKey). */
export function cacheHolds(cacheImages: readonly string[], image: string): boolean {
  const key = imageKey(image);
  return cacheImages.some((i) => imageKey(i) === key);
}

/** How many of the distinct `images` the cache holds. */
export function matchCount(cacheImages: readonly string[], images: readonly string[]): number {
  const have = new Set(cacheImages.map(imageKey));
  let n = 0;
  for (const k of new Set(images.map(imageKey))) if (have.has(k)) n++;
  return n;
}

/** RFC 3339 expiry of a cache created (or re-timed) at `from` for `retentionDays`; '' when it never expires. */
export function expiryFor(from: Date, retentionDays: number): string {
  if (!retentionDays) return '';
  return new Date(from.getTime() + retentionDays * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A cache past its ExpireDateTime is gone: it is not listed, matched or used, and the agents drop it. */
export function isExpired(d: Pick<ImageCacheData, 'ExpireDateTime'>, nowText: string): boolean {
  return d.ExpireDateTime !== '' && d.ExpireDateTime <= nowText;
}

/** The reference's progress text: the share of the images pulled, `0%`…`100%`. */
export function progressText(done: number, total: number): string {
  return `${total === 0 ? 100 : Math.floor((done * 100) / total)}%`;
}

export interface CacheCandidate {
  readonly id: string;
  readonly status: string;
  /** Insertion order: breaks ties between caches created within the same second (higher = newer). */
  readonly seq?: number;
  readonly data: Pick<ImageCacheData, 'Images' | 'ZoneId' | 'CreationTime' | 'ExpireDateTime'>;
}

/**
 * The cache AutoMatchImageCache uses for a group: among the Ready, unexpired caches usable in `zoneId`
 * ('' zone caches serve every zone), the one holding most of the group's images; on a tie the newest.
 * Undefined when no cache holds any of them (the group then pulls from the registries).
 */
export function pickImageCache<C extends CacheCandidate>(caches: readonly C[], images: readonly string[], zoneId: string, nowText: string): C | undefined {
  let best: C | undefined;
  let bestCount = 0;
  for (const c of caches) {
    if (c.status !== 'Ready' || isExpired(c.data, nowText)) continue;
    if (c.data.ZoneId !== '' && zoneId !== '' && c.data.ZoneId !== zoneId) continue;
    const n = matchCount(c.data.Images, images);
    if (n === 0) continue;
    if (n > bestCount || (n === bestCount && best !== undefined && newer(c, best) > 0)) {
      best = c;
      bestCount = n;
    }
  }
  return best;
}

/** Positive when `a` was created after `b`. */
function newer(a: CacheCandidate, b: CacheCandidate): number {
  if (a.data.CreationTime !== b.data.CreationTime) return a.data.CreationTime > b.data.CreationTime ? 1 : -1;
  return (a.seq ?? 0) - (b.seq ?? 0);
}

/**
 * DescribeImageCaches MatchImage.N: the Ready, unexpired caches holding at least one of `images` (all of
 * them with `fullMatch`, at least `minCount` with ImageMatchCountRequest), best match first, then newest.
 */
export function rankMatches<C extends CacheCandidate>(caches: readonly C[], images: readonly string[], nowText: string, opts: { fullMatch?: boolean; minCount?: number } = {}): C[] {
  const wanted = new Set(images.map(imageKey)).size;
  const need = opts.fullMatch ? wanted : Math.max(1, opts.minCount ?? 1);
  return caches
    .filter((c) => c.status === 'Ready' && !isExpired(c.data, nowText))
    .map((c) => ({ c, n: matchCount(c.data.Images, images) }))
    .filter((x) => x.n >= need)
    .sort((a, b) => b.n - a.n || newer(b.c, a.c))
    .map((x) => x.c);
}

// ---------------------------------------------------------------------------------------------------
// One host's work on one cache (the agent's planner).

export type HostCacheWork =
  /** Nothing to do: the host holds the current generation and has it pinned, or it gave up on it. */
  | { kind: 'none' }
  /** Pull every image of the current generation on this host, then pin them. */
  | { kind: 'pull' }
  /** The host holds the current generation but the image store lost the pin (a restart): pin again. */
  | { kind: 'pin'; digests: string[] }
  /** The host must not hold this cache (deleted, expired, other zone): release its images. */
  | { kind: 'unpin' };

export interface HostCacheView {
  readonly status: string;
  readonly data: Pick<ImageCacheData, 'ZoneId' | 'ExpireDateTime' | 'Generation' | 'Hosts' | 'Images'>;
}

/**
 * What `hostId` (in `zoneId`) does about a cache (undefined: the cache is gone from the store).
 * Contracts: a host builds every unexpired cache of its region meant for its zone, whatever the status
 * except Failed (a failed creation is never retried: no retry storm against a registry that refuses),
 * and a Failed record of its own for the current Generation is never retried either. UpdateFailed caches
 * still serve their last good generation where a host holds it.
 */
export function planHostCache(cache: HostCacheView | undefined, hostId: string, zoneId: string, pinned: boolean, nowText: string): HostCacheWork {
  if (!cache || isExpired(cache.data, nowText) || (cache.data.ZoneId !== '' && cache.data.ZoneId !== zoneId))
    return pinned ? { kind: 'unpin' } : { kind: 'none' };
  const mine: ImageCacheHostRecord | undefined = cache.data.Hosts[hostId];
  const current = mine !== undefined && mine.Generation === cache.data.Generation;
  if (current && mine.Status === 'Ready') return pinned ? { kind: 'none' } : { kind: 'pin', digests: digestsOf(mine, cache.data.Images) };
  if (current && mine.Status === 'Failed') return { kind: 'none' };
  // A failed creation is unusable: nothing to keep. A failed update keeps what this host pinned of the
  // last good generation (the user may update again) and is not retried.
  if (cache.status === 'Failed') return pinned ? { kind: 'unpin' } : { kind: 'none' };
  if (cache.status === 'UpdateFailed') return { kind: 'none' };
  return { kind: 'pull' };
}

/** The distinct digests a host record holds for `images`, in image order. */
export function digestsOf(rec: ImageCacheHostRecord, images: readonly string[]): string[] {
  const out: string[] = [];
  for (const i of images) {
    const d = rec.Digests[i];
    if (d && !out.includes(d)) out.push(d);
  }
  return out;
}
