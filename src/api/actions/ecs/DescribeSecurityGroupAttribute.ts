import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { KIND, type SecurityGroupData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { innerAccessPolicy, peerGroupOf } from '../../../core/security-group.ts';
import { presentRule, requireSecurityGroup } from '../../resources/security-group.ts';

export const DescribeSecurityGroupAttribute = defineAction({
  product: 'ecs',
  name: 'DescribeSecurityGroupAttribute',
  summary: "Shows a security group and its rules (ingress, egress or both), optionally paged by NextToken/MaxResults.",
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    SecurityGroupId: p.string({ required: true }),
    Direction: p.enum(['all', 'ingress', 'egress'], { default: 'all', code: 'InvalidDirection.Malformed' }),
    /** Every rule of a VPC group is intranet; the filter is validated and otherwise has no effect. */
    NicType: p.enum(['internet', 'intranet'], { code: 'InvalidNicType.ValueNotSupported' }),
    NextToken: p.string(),
    MaxResults: p.int({ min: 10, max: 1000 }),
  },
  async handler(ctx, params) {
    const sg = await requireSecurityGroup(ctx.tx, ctx.account, params.SecurityGroupId, params.RegionId);
    let rules = sg.data.Permissions.filter((r) => params.Direction === 'all' || r.Direction === params.Direction);
    let nextToken: string | undefined;
    if (params.NextToken !== undefined || params.MaxResults !== undefined) {
      // The token is the offset into the group's rules in creation order.
      let start = 0;
      if (params.NextToken) {
        if (!/^\d{1,6}$/.test(params.NextToken)) throw invalid('InvalidNextToken.Malformed', 'The specified NextToken is not valid: pass the NextToken of the previous page.');
        start = Number(params.NextToken);
      }
      const size = params.MaxResults ?? 500;
      nextToken = start + size < rules.length ? String(start + size) : '';
      rules = rules.slice(start, start + size);
    }
    const peerIds = [...new Set(rules.map(peerGroupOf).filter((id) => id !== ''))];
    const names = new Map<string, string>();
    if (peerIds.length > 0) {
      for (const g of await ctx.tx.list<SecurityGroupData>({ kind: KIND.securityGroup, account: ctx.account, ids: peerIds }))
        names.set(g.id, g.data.SecurityGroupName);
    }
    return {
      RegionId: sg.region,
      SecurityGroupId: sg.id,
      SecurityGroupName: sg.data.SecurityGroupName,
      Description: sg.data.Description,
      VpcId: sg.data.VpcId,
      InnerAccessPolicy: innerAccessPolicy(sg.data.SecurityGroupType),
      ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
      Permissions: { Permission: rules.map((r) => presentRule(r, names)) },
    };
  },
});
