import { defineAction } from '../../action.ts';
import { expiryFor, UPDATABLE } from '../../../core/image-cache.ts';
import { conflict } from '../../../core/errors.ts';
import type { ImageCacheData } from '../../../core/model.ts';
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
  refuseCacheOptions,
  requireImageCache,
  cacheSpecParams,
} from '../../resources/image-cache.ts';

export const UpdateImageCache = defineAction({
  product: 'eci',
  name: 'UpdateImageCache',
  summary: 'Changes a Ready or UpdateFailed image cache. New images, credentials, registries or size make the hosts build it again (Updating → Ready | UpdateFailed); a name, tag or retention change applies at once.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ImageCacheId: p.string({ required: true }),
    ImageCacheName: p.string({ pattern: CACHE_NAME_PATTERN, hint: CACHE_NAME_HINT }),
    Image: imagesParam,
    // On update, RetentionDays counts again from the update; PlainHttpRegistry and InsecureRegistry are not in
    // the reference SDK's model of this action and are accepted as CreateImageCache takes them.
    ...cacheSpecParams,
    ResourceGroupId: p.string({ max: 64 }),
    /** Replaces the cache's tags. */
    Tag: tagsParam,
    ClientToken: p.string({ max: 64 }),
  },
  async handler(ctx, params) {
    refuseCacheOptions(params);
    const cache = await requireImageCache(ctx.tx, ctx.account, params.RegionId, params.ImageCacheId, ctx.nowText);
    if (!UPDATABLE.has(cache.status))
      throw conflict('IncorrectImageCacheStatus', `The image cache ${cache.id} is ${cache.status}; only a Ready or UpdateFailed image cache can be updated.`);
    const d = cache.data;
    const zoneId = await checkCacheNetwork(ctx, params.RegionId, params, d.ZoneId && !params.VSwitchId ? d.ZoneId : '');

    const next: ImageCacheData = {
      ...d,
      ImageCacheName: params.ImageCacheName ?? d.ImageCacheName,
      Images: params.Image ? normalizeImages(params.Image) : d.Images,
      ImageRegistryCredentials: params.ImageRegistryCredential ? normalizeRegistryCredentials(params.ImageRegistryCredential) : d.ImageRegistryCredentials,
      PlainHttpRegistries: params.PlainHttpRegistry ? checkRegistries('PlainHttpRegistry', params.PlainHttpRegistry) : d.PlainHttpRegistries,
      InsecureRegistries: params.InsecureRegistry ? checkRegistries('InsecureRegistry', params.InsecureRegistry) : d.InsecureRegistries,
      ImageCacheSize: params.ImageCacheSize ?? d.ImageCacheSize,
      RetentionDays: params.RetentionDays ?? d.RetentionDays,
      ExpireDateTime: params.RetentionDays !== undefined ? expiryFor(ctx.now, params.RetentionDays) : d.ExpireDateTime,
      EliminationStrategy: params.EliminationStrategy ?? d.EliminationStrategy,
      AutoMatchImageCache: params.AutoMatchImageCache ?? d.AutoMatchImageCache,
      ZoneId: params.VSwitchId ? zoneId : d.ZoneId,
      VSwitchId: params.VSwitchId ?? d.VSwitchId,
      SecurityGroupId: params.SecurityGroupId ?? d.SecurityGroupId,
      EipInstanceId: params.EipInstanceId ?? d.EipInstanceId,
      ResourceGroupId: params.ResourceGroupId ?? d.ResourceGroupId,
      Tags: params.Tag ? normalizeTags(params.Tag) : d.Tags,
    };
    // What the hosts hold changes: a new generation for them to build. Hosts keep their pins of the old
    // one until the new one is pulled.
    const rebuild =
      JSON.stringify([next.Images, next.ImageRegistryCredentials, next.PlainHttpRegistries, next.InsecureRegistries, next.ImageCacheSize, next.ZoneId]) !==
        JSON.stringify([d.Images, d.ImageRegistryCredentials, d.PlainHttpRegistries, d.InsecureRegistries, d.ImageCacheSize, d.ZoneId]) || cache.status === 'UpdateFailed';
    if (rebuild) {
      next.Generation = d.Generation + 1;
      next.Progress = '0%';
      next.StatusTime = ctx.nowText;
      cache.status = 'Updating';
    }
    cache.name = next.ImageCacheName;
    cache.parent = next.ZoneId;
    cache.data = next;
    await ctx.tx.update(cache);
    if (rebuild)
      await ctx.tx.addEvent(ctx.account, { resourceId: cache.id, type: 'Normal', reason: 'Updating', message: `Updated; the hosts will pull ${next.Images.length} image(s) again (generation ${next.Generation}).` }, ctx.nowText);
    return {};
  },
});
