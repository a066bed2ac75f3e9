import { defineAction } from '../../action.ts';
import { KIND, type VpcData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { requireVSwitchIn, vSwitchView } from '../../resources/vpc.ts';

export const DescribeVSwitchAttributes = defineAction({
  product: 'vpc',
  name: 'DescribeVSwitchAttributes',
  summary: 'Shows one vSwitch, with its count of free private addresses.',
  mutating: false,
  params: { RegionId: p.string({ required: true }), VSwitchId: p.string({ required: true }) },
  async handler(ctx, params) {
    const vsw = await requireVSwitchIn(ctx.tx, ctx.account, params.RegionId, params.VSwitchId);
    const vpc = await ctx.tx.get<VpcData>(KIND.vpc, vsw.data.VpcId);
    return vSwitchView(ctx.tx, vsw, vpc?.data);
  },
});
