import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';
import { removeImageCache, requireImageCache } from '../../resources/image-cache.ts';

export const DeleteImageCache = defineAction({
  product: 'eci',
  name: 'DeleteImageCache',
  summary: 'Deletes an image cache in any status; the host agents release its images (their store may then collect them). Groups already using it keep running.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ImageCacheId: p.string({ required: true }),
    ClientToken: p.string({ max: 64 }),
  },
  async handler(ctx, params) {
    const cache = await requireImageCache(ctx.tx, ctx.account, params.RegionId, params.ImageCacheId, ctx.nowText);
    await removeImageCache(ctx.tx, cache);
    return {};
  },
});
