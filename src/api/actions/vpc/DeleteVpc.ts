import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { KIND } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { requireVpc } from '../../resources/vpc.ts';

export const DeleteVpc = defineAction({
  product: 'vpc',
  name: 'DeleteVpc',
  summary: 'Deletes a VPC that holds no vSwitch, security group or NAT gateway.',
  mutating: true,
  params: { RegionId: p.string({ required: true }), VpcId: p.string({ required: true }), ForceDelete: p.bool() },
  async handler(ctx, params) {
    const vpc = await requireVpc(ctx.tx, ctx.account, params.VpcId);
    for (const [kind, code] of [
      [KIND.vSwitch, 'DependencyViolation.VSwitch'],
      [KIND.natGateway, 'DependencyViolation.NatGateway'],
      [KIND.securityGroup, 'DependencyViolation.SecurityGroup'],
    ] as const) {
      if ((await ctx.tx.count({ kind, parent: vpc.id })) > 0)
        throw invalid(code, `The VPC ${vpc.id} still holds a ${kind}; delete it first.`);
    }
    await ctx.tx.delete(KIND.vpc, vpc.id);
    return {};
  },
});
