// Image cache pieces shared by the ECI actions: the parameter schema Create and Update take, the rules
// for the reference's parameters OpenECI honours or refuses, lookup, presentation, expiry clean-up, and
// the choice of a cache for CreateContainerGroup (ImageSnapshotId / AutoMatchImageCache).
//
// What a cache is here: the host agents of the region (of the cache's zone, when it has one) pull its
// images into their image stores and pin them there (src/agent/image-caches.ts). There is no temporary
// container group and no disk snapshot, so ContainerGroupId and SnapshotId answer ''.

import { isExpired, MAX_CACHE_SIZE_GIB, MIN_CACHE_SIZE_GIB, pickImageCache } from '../../core/image-cache.ts';
import { conflict, invalid, invalidParameter, missingParameter, notFound } from '../../core/errors.ts';
import { parseImageReference } from '../../core/image-reference.ts';
import { KIND, type ContainerSpec, type EipData, type ImageCacheData, type SecurityGroupData } from '../../core/model.ts';
import { p } from '../../core/params.ts';
import type { Resource, StoredEvent, Tx } from '../../store/store.ts';
import type { ActionContext } from '../action.ts';
import { requireOwned } from './common.ts';
import { acrRegistryInfoParam, presentEvent, registryCredentialParam, unsupported } from './container-group.ts';
import { requireVSwitchIn } from './vpc.ts';

/** The reference: 2–128 lowercase letters, digits and hyphens, not starting or ending with a hyphen. */
export const CACHE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,126}[a-z0-9]$/;
export const CACHE_NAME_HINT = 'use 2 to 128 lowercase letters, digits and hyphens, not starting or ending with a hyphen';

const REGISTRY = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;

/** `Image.N`: at most 20 images, as the reference allows. */
export const imagesParam = p.list(p.string({ max: 1024, pattern: /^\S+$/, hint: 'an image reference has no whitespace' }), { max: 20 });
export const cacheSizeParam = p.int({ min: MIN_CACHE_SIZE_GIB, max: MAX_CACHE_SIZE_GIB });
export const retentionDaysParam = p.int({ min: 1, max: 65536 });
export const eliminationParam = p.enum(['LRU']);

/** What CreateImageCache and UpdateImageCache both take to describe a cache (the refused ones included). */
export const cacheSpecParams = {
  VSwitchId: p.string(),
  SecurityGroupId: p.string(),
  EipInstanceId: p.string(),
  ImageCacheSize: cacheSizeParam,
  RetentionDays: retentionDaysParam,
  EliminationStrategy: eliminationParam,
  ImageRegistryCredential: registryCredentialParam,
  AcrRegistryInfo: acrRegistryInfoParam,
  PlainHttpRegistry: p.csv({ max: 20 }),
  InsecureRegistry: p.csv({ max: 20 }),
  AutoMatchImageCache: p.bool(),
  Flash: p.bool(),
  FlashCopyCount: p.int({ min: 0 }),
  StandardCopyCount: p.int({ min: 0 }),
};

/** The account's cache in the region; an expired cache is gone (InvalidImageCacheId.NotFound), as in the reference. */
export async function requireImageCache(tx: Tx, account: string, regionId: string, id: string, nowText: string): Promise<Resource<ImageCacheData>> {
  const r = await requireOwned<ImageCacheData>(tx, KIND.imageCache, account, id, 'InvalidImageCacheId.NotFound', 'ImageCacheId');
  if (r.region !== regionId || isExpired(r.data, nowText)) throw notFound('InvalidImageCacheId.NotFound', `The specified ImageCacheId "${id}" does not exist in ${regionId}.`);
  return r;
}

/** Image.N, each a valid image reference, de-duplicated in order; at least one. */
export function normalizeImages(images: string[] | undefined): string[] {
  const out: string[] = [];
  (images ?? []).forEach((i, n) => {
    try {
      parseImageReference(i);
    } catch (e) {
      throw invalidParameter(`Image.${n + 1}`, e instanceof Error ? `${e.message}.` : undefined);
    }
    if (!out.includes(i)) out.push(i);
  });
  if (out.length === 0) throw missingParameter('Image.1');
  return out;
}

export function checkRegistries(name: 'PlainHttpRegistry' | 'InsecureRegistry', list: string[] | undefined): string[] {
  for (const r of list ?? []) if (!REGISTRY.test(r)) throw invalidParameter(name, `"${r}" is not a registry host[:port].`);
  return list ?? [];
}

/** The reference parameters that ask for what a host-built cache cannot be (copies, instant snapshots, ACR EE). */
export function refuseCacheOptions(q: { Flash?: boolean; FlashCopyCount?: number; StandardCopyCount?: number; AcrRegistryInfo?: unknown[]; Annotations?: string }): void {
  const refusals: [string, boolean, string][] = [
    ['Flash', q.Flash === true, 'there are no instant snapshots: a cache lives in the image stores of the hosts, which start from it without copying.'],
    ['FlashCopyCount', (q.FlashCopyCount ?? 0) > 0, 'there are no snapshots to copy: every host of the zone holds its own copy of the cache.'],
    ['StandardCopyCount', (q.StandardCopyCount ?? 0) > 0, 'there are no snapshots to copy: every host of the zone holds its own copy of the cache.'],
    ['AcrRegistryInfo', (q.AcrRegistryInfo?.length ?? 0) > 0, 'there is no Container Registry Enterprise Edition; use ImageRegistryCredential.'],
    ['Annotations', !!q.Annotations, 'they configure the reference\'s temporary instance, and caches here are built by the host agents directly.'],
  ];
  for (const [name, asked, why] of refusals) if (asked) throw unsupported(name, why);
}

/**
 * The reference's network parameters of the temporary instance that would pull the images. Pulls run from
 * the hosts here, so they only have to name real resources of the account: VSwitchId also fixes the zone
 * (as the reference's cache lives in its vSwitch's zone); SecurityGroupId and EipInstanceId are recorded.
 */
export async function checkCacheNetwork(ctx: ActionContext, regionId: string, q: { VSwitchId?: string; SecurityGroupId?: string; EipInstanceId?: string }, zoneId: string): Promise<string> {
  let zone = zoneId;
  if (q.VSwitchId) {
    const vsw = await requireVSwitchIn(ctx.tx, ctx.account, regionId, q.VSwitchId);
    if (zone && zone !== vsw.data.ZoneId) throw invalidParameter('ZoneId', `The vSwitch ${vsw.id} is in ${vsw.data.ZoneId}, not in ${zone}.`);
    zone = vsw.data.ZoneId;
  }
  if (q.SecurityGroupId) {
    const sg = await requireOwned<SecurityGroupData>(ctx.tx, KIND.securityGroup, ctx.account, q.SecurityGroupId, 'InvalidSecurityGroupId.NotFound', 'SecurityGroupId');
    if (sg.region !== regionId) throw notFound('InvalidSecurityGroupId.NotFound', `The specified SecurityGroupId "${sg.id}" does not exist in ${regionId}.`);
  }
  if (q.EipInstanceId) {
    const eip = await requireOwned<EipData>(ctx.tx, KIND.eip, ctx.account, q.EipInstanceId, 'InvalidAllocationId.NotFound', 'EipInstanceId');
    if (eip.region !== regionId) throw invalid('InvalidParameter.Mismatch', `The EIP ${eip.id} is in ${eip.region}, not in ${regionId}.`);
  }
  return zone;
}

/**
 * Deletes the account's expired caches of the region (rows and events), in the caller's transaction.
 * Expiry is otherwise applied at read time (Describe, matching and the agents ignore an expired cache),
 * so this only reclaims quota; it runs before a create counts the quota.
 */
export async function purgeExpired(tx: Tx, account: string, regionId: string, nowText: string): Promise<void> {
  for (const c of await tx.list<ImageCacheData>({ kind: KIND.imageCache, account, region: regionId })) {
    if (!isExpired(c.data, nowText)) continue;
    await tx.deleteEvents(c.id);
    await tx.delete(KIND.imageCache, c.id);
  }
}

/** Removes a cache (any status): row and events. The agents see it gone and release its images. */
export async function removeImageCache(tx: Tx, cache: Resource<ImageCacheData>): Promise<void> {
  await tx.deleteEvents(cache.id);
  await tx.delete(KIND.imageCache, cache.id);
}

/** The reference's DescribeImageCaches item. Credentials and per-host records are never shown. */
export function presentImageCache(r: Resource<ImageCacheData>, events: readonly StoredEvent[]) {
  const d = r.data;
  return {
    ImageCacheId: r.id,
    ImageCacheName: d.ImageCacheName,
    // Caches are built by the host agents themselves, not by a temporary container group, and there is no
    // disk snapshot behind them: both ids are ''.
    ContainerGroupId: '',
    SnapshotId: '',
    FlashSnapshotId: '',
    Status: r.status,
    Progress: d.Progress,
    Images: d.Images,
    ImageCacheSize: d.ImageCacheSize,
    RegionId: r.region,
    ResourceGroupId: d.ResourceGroupId,
    CreationTime: d.CreationTime,
    ExpireDateTime: d.ExpireDateTime,
    LastMatchedTime: d.LastMatchedTime,
    EliminationStrategy: d.EliminationStrategy,
    Tags: d.Tags.map((t) => ({ Key: t.Key, Value: t.Value })),
    Events: events.slice(-50).map((e) => presentEvent(r.id, e)),
    // Not in the reference's item; OpenECI shows what it stored.
    ZoneId: d.ZoneId,
  };
}

// ---------------------------------------------------------------------------------------------------
// CreateContainerGroup: which cache a group uses.

export interface CacheChoice {
  /** The cache used, or undefined (none asked for, or none matched). */
  cache?: Resource<ImageCacheData>;
  /** The group events the reference writes for the decision (SuccessfulHitImageCache, ImageCacheMissed). */
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

/**
 * ImageSnapshotId: that cache, which must exist in the account and region (InvalidImageSnapshotId.NotFound),
 * be Ready (IncorrectImageCacheStatus, with the reference's "not yet complete" message) and serve the group's
 * zone. AutoMatchImageCache: the Ready cache of the account and region that holds most of the group's images
 * (newest first on ties); none → the group proceeds without one. The chosen cache's LastMatchedTime is set,
 * in the caller's transaction.
 */
export async function chooseImageCache(
  ctx: ActionContext,
  q: { RegionId: string; ImageSnapshotId?: string; AutoMatchImageCache?: boolean },
  containers: readonly ContainerSpec[],
  zoneId: string,
): Promise<CacheChoice> {
  const images = containers.map((c) => c.Image).filter((i) => i !== '');
  let cache: Resource<ImageCacheData> | undefined;
  if (q.ImageSnapshotId) {
    const found = await ctx.tx.get<ImageCacheData>(KIND.imageCache, q.ImageSnapshotId);
    if (!found || found.account !== ctx.account || found.region !== q.RegionId || isExpired(found.data, ctx.nowText))
      throw notFound('InvalidImageSnapshotId.NotFound', `The specified image cache ${q.ImageSnapshotId} does not exist.`);
    if (found.status !== 'Ready')
      throw conflict('IncorrectImageCacheStatus', `The production for specified image cache ${found.id} is not yet complete (status ${found.status}); use it once it is Ready.`);
    if (found.data.ZoneId && found.data.ZoneId !== zoneId)
      throw invalidParameter('ImageSnapshotId', `The image cache ${found.id} is in ${found.data.ZoneId}; the container group is in ${zoneId}.`);
    cache = found;
  } else if (q.AutoMatchImageCache) {
    const caches = await ctx.tx.list<ImageCacheData>({ kind: KIND.imageCache, account: ctx.account, region: q.RegionId, status: 'Ready' });
    cache = pickImageCache(caches, images, zoneId, ctx.nowText);
    if (!cache) return { event: { type: 'Warning', reason: 'ImageCacheMissed', message: 'Missed image cache: no Ready image cache holds the images of this container group; they are pulled from their registries.' } };
  } else {
    return {};
  }
  cache.data = { ...cache.data, LastMatchedTime: ctx.nowText };
  await ctx.tx.update(cache);
  return {
    cache,
    event: { type: 'Normal', reason: 'SuccessfulHitImageCache', message: `[eci.imagecache]Successfully hit image cache ${cache.id}, eci will be scheduled with this image cache.` },
  };
}
