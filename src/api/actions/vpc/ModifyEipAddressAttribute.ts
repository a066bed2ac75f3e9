import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';
import { checkEipBandwidth, requireEip } from '../../resources/eip.ts';

const NAME = /^(?!https?:\/\/)[^\x00-\x1f]{0,128}$/su;

export const ModifyEipAddressAttribute = defineAction({
  product: 'vpc',
  name: 'ModifyEipAddressAttribute',
  summary: "Changes an EIP's bandwidth (applied live by the data plane), name or description.",
  mutating: true,
  params: {
    RegionId: p.string(),
    AllocationId: p.string({ required: true }),
    Bandwidth: p.string(),
    Name: p.string({ pattern: NAME, code: 'InvalidName.Malformed' }),
    Description: p.string({ max: 256, code: 'InvalidDescription.Malformed' }),
  },
  async handler(ctx, params) {
    const eip = await requireEip(ctx.tx, ctx.account, params.AllocationId, params.RegionId);
    const data = { ...eip.data };
    // The stored Bandwidth is the desired limit; the host agents re-shape to it on their next pass.
    if (params.Bandwidth !== undefined && params.Bandwidth !== '') data.Bandwidth = checkEipBandwidth(params.Bandwidth, data.InternetChargeType);
    if (params.Name !== undefined) data.Name = params.Name;
    if (params.Description !== undefined) data.Description = params.Description;
    eip.data = data;
    eip.name = data.Name;
    await ctx.tx.update(eip);
    return {};
  },
});
