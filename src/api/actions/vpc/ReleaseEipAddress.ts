import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';
import { releaseEip, requireEip } from '../../resources/eip.ts';

export const ReleaseEipAddress = defineAction({
  product: 'vpc',
  name: 'ReleaseEipAddress',
  summary: 'Releases an Available EIP; its address returns to the pool.',
  mutating: true,
  params: { RegionId: p.string(), AllocationId: p.string({ required: true }) },
  async handler(ctx, params) {
    const eip = await requireEip(ctx.tx, ctx.account, params.AllocationId, params.RegionId);
    await releaseEip(ctx.tx, eip);
    return {};
  },
});
