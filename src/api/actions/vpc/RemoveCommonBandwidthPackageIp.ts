import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { p } from '../../../core/params.ts';
import { removeFromPackage, requireBandwidthPackage, requirePackageEip } from '../../resources/bandwidth-package.ts';

export const RemoveCommonBandwidthPackageIp = defineAction({
  product: 'vpc',
  name: 'RemoveCommonBandwidthPackageIp',
  summary: 'Takes an EIP out of a common bandwidth package; its own bandwidth applies again.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    BandwidthPackageId: p.string({ required: true }),
    IpInstanceId: p.string({ required: true }),
  },
  async handler(ctx, params) {
    const pkg = await requireBandwidthPackage(ctx.tx, ctx.account, params.RegionId, params.BandwidthPackageId);
    const eip = await requirePackageEip(ctx.tx, ctx.account, params.RegionId, params.IpInstanceId);
    if (eip.data.BandwidthPackageId !== pkg.id)
      throw invalid('OperationUnsupported.IpNotInCbwp', `The EIP ${eip.id} is not in the bandwidth package ${pkg.id}.`);
    await removeFromPackage(ctx.tx, eip);
    return {};
  },
});
