import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { KIND } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { packageMembers, removeFromPackage, requireBandwidthPackage } from '../../resources/bandwidth-package.ts';

export const DeleteCommonBandwidthPackage = defineAction({
  product: 'vpc',
  name: 'DeleteCommonBandwidthPackage',
  summary: 'Deletes a common bandwidth package; with Force, takes its EIPs out first.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    BandwidthPackageId: p.string({ required: true }),
    Force: p.bool({ default: false }),
  },
  async handler(ctx, params) {
    const pkg = await requireBandwidthPackage(ctx.tx, ctx.account, params.RegionId, params.BandwidthPackageId);
    const members = await packageMembers(ctx.tx, pkg);
    if (members.length > 0 && !params.Force)
      throw invalid('DependencyViolation.EIPS', `The bandwidth package ${pkg.id} still holds ${members.length} EIP(s); remove them or delete with Force=true.`);
    for (const eip of members) await removeFromPackage(ctx.tx, eip);
    await ctx.tx.delete(KIND.bandwidthPackage, pkg.id);
    return {};
  },
});
