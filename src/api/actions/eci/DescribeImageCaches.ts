import { defineAction } from '../../action.ts';
import { cacheHolds, isExpired, rankMatches } from '../../../core/image-cache.ts';
import { invalidParameter } from '../../../core/errors.ts';
import { KIND, type ImageCacheData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { matchesTags } from '../../resources/common.ts';
import { latestEvents } from '../../resources/container-group.ts';
import { presentImageCache } from '../../resources/image-cache.ts';

const matchImagesParam = p.list(p.string({ max: 1024 }), { max: 100 });

export const DescribeImageCaches = defineAction({
  product: 'eci',
  name: 'DescribeImageCaches',
  summary: 'Lists image caches with their status, progress and latest 50 events; MatchImage.N lists the Ready caches holding those images, best match first.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    /** One id, or several comma-separated. */
    ImageCacheId: p.csv({ max: 100 }),
    ImageCacheName: p.string(),
    SnapshotId: p.string(),
    Image: p.string({ max: 1024 }),
    MatchImage: matchImagesParam,
    ImageFullMatch: p.bool(),
    ImageMatchCountRequest: p.int({ min: 1, max: 100 }),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
    Limit: p.int({ min: 1, max: 100 }),
    NextToken: p.string(),
  },
  async handler(ctx, params) {
    const offset = parseOffset(params.NextToken);
    const limit = params.Limit ?? 20;
    // The account's caches of the region are bounded by its quota: read them and filter here. An expired
    // cache is gone (the reference deletes it), whether or not a create has reclaimed its row yet.
    let caches = (await ctx.tx.list<ImageCacheData>({ kind: KIND.imageCache, account: ctx.account, region: params.RegionId, name: params.ImageCacheName || undefined })).filter((c) => {
      if (isExpired(c.data, ctx.nowText)) return false;
      if (params.ImageCacheId?.length && !params.ImageCacheId.includes(c.id)) return false;
      // No cache here has a disk snapshot behind it (SnapshotId is always ''), so a SnapshotId matches none.
      if (params.SnapshotId) return false;
      if (params.Image && !cacheHolds(c.data.Images, params.Image)) return false;
      if (params.ResourceGroupId && c.data.ResourceGroupId !== params.ResourceGroupId) return false;
      return matchesTags(c.data.Tags, params.Tag);
    });
    if (params.MatchImage?.length)
      caches = rankMatches(caches, params.MatchImage, ctx.nowText, { fullMatch: params.ImageFullMatch, minCount: params.ImageMatchCountRequest });
    const page = caches.slice(offset, offset + limit);
    const events = await latestEvents(ctx.tx, page.map((c) => c.id));
    return {
      TotalCount: caches.length,
      NextToken: offset + limit < caches.length ? String(offset + limit) : '',
      ImageCaches: page.map((c) => presentImageCache(c, events.get(c.id) ?? [])),
    };
  },
});

function parseOffset(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  if (!/^\d{1,9}$/.test(token)) throw invalidParameter('NextToken', 'Use the NextToken of a previous response.');
  return Number(token);
}
