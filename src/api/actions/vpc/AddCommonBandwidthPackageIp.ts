import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { p } from '../../../core/params.ts';
import { addToPackage, requireBandwidthPackage, requirePackageEip } from '../../resources/bandwidth-package.ts';

export const AddCommonBandwidthPackageIp = defineAction({
  product: 'vpc',
  name: 'AddCommonBandwidthPackageIp',
  summary: 'Adds a pay-as-you-go EIP of the same ISP to a common bandwidth package; the package limit then applies to it.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    BandwidthPackageId: p.string({ required: true }),
    IpInstanceId: p.string({ required: true }),
    IpType: p.string({ default: 'EIP' }),
  },
  async handler(ctx, params) {
    if (params.IpType !== 'EIP') throw invalid('OperationUnsupported.IpType', `IpType "${params.IpType}" is not supported; use EIP.`);
    const pkg = await requireBandwidthPackage(ctx.tx, ctx.account, params.RegionId, params.BandwidthPackageId);
    const eip = await requirePackageEip(ctx.tx, ctx.account, params.RegionId, params.IpInstanceId);
    await addToPackage(ctx.tx, pkg, eip);
    return {};
  },
});
