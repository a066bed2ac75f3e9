import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';
import { checkPackageBandwidth, packageMembers, requireBandwidthPackage } from '../../resources/bandwidth-package.ts';

export const ModifyCommonBandwidthPackageSpec = defineAction({
  product: 'vpc',
  name: 'ModifyCommonBandwidthPackageSpec',
  summary: "Changes a common bandwidth package's bandwidth; it applies to the package's EIPs at once.",
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    BandwidthPackageId: p.string({ required: true }),
    // A string, as the SDKs send it, so that a bad value answers the reference's "Bandwidth" message.
    Bandwidth: p.string({ required: true }),
  },
  async handler(ctx, params) {
    const bandwidth = checkPackageBandwidth(params.Bandwidth);
    const pkg = await requireBandwidthPackage(ctx.tx, ctx.account, params.RegionId, params.BandwidthPackageId);
    pkg.data = { ...pkg.data, Bandwidth: bandwidth };
    await ctx.tx.update(pkg);
    for (const eip of await packageMembers(ctx.tx, pkg)) {
      eip.data = { ...eip.data, BandwidthPackageBandwidth: String(bandwidth) };
      await ctx.tx.update(eip);
    }
    return {};
  },
});
