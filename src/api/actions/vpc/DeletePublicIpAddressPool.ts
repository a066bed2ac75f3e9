import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { KIND } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { eipsOfPool, requireIpPool } from '../../resources/vpc.ts';

export const DeletePublicIpAddressPool = defineAction({
  product: 'vpc',
  name: 'DeletePublicIpAddressPool',
  summary: 'Deletes a public IP address pool none of whose addresses is held by an EIP.',
  mutating: true,
  params: { RegionId: p.string({ required: true }), PublicIpAddressPoolId: p.string({ required: true }) },
  async handler(ctx, params) {
    const pool = await requireIpPool(ctx.tx, ctx.account, params.RegionId, params.PublicIpAddressPoolId);
    const eips = await eipsOfPool(ctx.tx, pool);
    if (eips.length > 0)
      throw invalid('OperationDenied.IpInUse', `${eips.length} EIP(s) hold addresses of the pool ${pool.id} (${eips[0].id}…); release them first.`);
    await ctx.tx.delete(KIND.ipPool, pool.id);
    return {};
  },
});
