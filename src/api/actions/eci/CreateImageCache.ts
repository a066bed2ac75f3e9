import { defineAction } from '../../action.ts';
import { DEFAULT_CACHE_SIZE_GIB, expiryFor } from '../../../core/image-cache.ts';
import { ApiError, notFound } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { KIND, type ImageCacheData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { normalizeTags } from '../../resources/common.ts';
import { normalizeRegistryCredentials } from '../../resources/container-group.ts';
import {
  CACHE_NAME_HINT,
  CACHE_NAME_PATTERN,
  checkCacheNetwork,
  checkRegistries,
  imagesParam,
  normalizeImages,
  purgeExpired,
  refuseCacheOptions,
  removeImageCache,
  cacheSpecParams,
} from '../../resources/image-cache.ts';

export const CreateImageCache = defineAction({
  product: 'eci',
  name: 'CreateImageCache',
  summary: 'Creates an image cache: the host agents of the region (or zone) pull its images and keep them, so groups using it start without a registry round-trip. Status Preparing → Creating → Ready | Failed.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ImageCacheName: p.string({ required: true, pattern: CACHE_NAME_PATTERN, hint: CACHE_NAME_HINT }),
    Image: imagesParam,
    ZoneId: p.string(),
    ...cacheSpecParams,
    Annotations: p.string(),
    ResourceGroupId: p.string({ max: 64 }),
    Tag: tagsParam,
    ClientToken: p.string({ max: 64 }),
    DryRun: p.bool(),
  },
  async handler(ctx, params) {
    refuseCacheOptions(params);
    const region = ctx.config.regions.find((r) => r.regionId === params.RegionId)!;
    if (params.ZoneId && !region.zones.includes(params.ZoneId))
      throw notFound('InvalidZoneId.NotFound', `The specified ZoneId "${params.ZoneId}" does not exist in ${params.RegionId}.`);
    const images = normalizeImages(params.Image);
    const tags = normalizeTags(params.Tag);
    const credentials = normalizeRegistryCredentials(params.ImageRegistryCredential ?? []);
    const plainHttp = checkRegistries('PlainHttpRegistry', params.PlainHttpRegistry);
    const insecure = checkRegistries('InsecureRegistry', params.InsecureRegistry);
    const zoneId = await checkCacheNetwork(ctx, params.RegionId, params, params.ZoneId ?? '');

    // Quota: expired caches no longer count; at the limit, an LRU cache (EliminationStrategy=LRU) that was
    // matched least recently makes room, as the reference evicts them; otherwise QuotaExceeded.ImageCache.
    await purgeExpired(ctx.tx, ctx.account, params.RegionId, ctx.nowText);
    const existing = await ctx.tx.list<ImageCacheData>({ kind: KIND.imageCache, account: ctx.account, region: params.RegionId });
    const evictable = existing
      .filter((c) => c.data.EliminationStrategy === 'LRU')
      .sort((a, b) => ((a.data.LastMatchedTime || a.data.CreationTime) < (b.data.LastMatchedTime || b.data.CreationTime) ? -1 : 1));
    for (let count = existing.length; count >= ctx.config.quotas.imageCaches; count--) {
      const victim = evictable.shift();
      if (!victim) throw new ApiError('QuotaExceeded', 'QuotaExceeded.ImageCache', `The quota of image caches (${ctx.config.quotas.imageCaches}) is exceeded; delete one, or create caches with EliminationStrategy=LRU.`);
      await removeImageCache(ctx.tx, victim);
    }

    const id = newId('imageCache', ctx.random);
    const retention = params.RetentionDays ?? 0;
    const data: ImageCacheData = {
      ImageCacheId: id,
      ImageCacheName: params.ImageCacheName,
      RegionId: params.RegionId,
      ZoneId: zoneId,
      Images: images,
      ImageRegistryCredentials: credentials,
      PlainHttpRegistries: plainHttp,
      InsecureRegistries: insecure,
      ImageCacheSize: params.ImageCacheSize ?? DEFAULT_CACHE_SIZE_GIB,
      RetentionDays: retention,
      ExpireDateTime: expiryFor(ctx.now, retention),
      EliminationStrategy: params.EliminationStrategy ?? '',
      AutoMatchImageCache: params.AutoMatchImageCache ?? false,
      VSwitchId: params.VSwitchId ?? '',
      SecurityGroupId: params.SecurityGroupId ?? '',
      EipInstanceId: params.EipInstanceId ?? '',
      ResourceGroupId: params.ResourceGroupId ?? '',
      Tags: tags,
      CreationTime: ctx.nowText,
      LastMatchedTime: '',
      Progress: '0%',
      Generation: 1,
      StatusTime: ctx.nowText,
      Hosts: {},
    };
    await ctx.tx.insert({ kind: KIND.imageCache, id, account: ctx.account, region: params.RegionId, name: data.ImageCacheName, status: 'Preparing', parent: zoneId, createdAt: ctx.nowText, data });
    await ctx.tx.addEvent(ctx.account, { resourceId: id, type: 'Normal', reason: 'Preparing', message: `Accepted; the hosts of ${zoneId || params.RegionId} will pull ${images.length} image(s).` }, ctx.nowText);
    // No temporary container group builds the cache here (the host agents pull directly): ContainerGroupId is ''.
    return { ImageCacheId: id, ContainerGroupId: '' };
  },
});
