import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { KIND, type SecurityGroupData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { peerGroupOf } from '../../../core/security-group.ts';
import type { Resource } from '../../../store/store.ts';
import { matchesTags } from '../../resources/common.ts';

export const DescribeSecurityGroups = defineAction({
  product: 'ecs',
  name: 'DescribeSecurityGroups',
  summary: 'Lists security groups, filtered by VPC, IDs, name, type and tags; paged by PageNumber/PageSize or NextToken/MaxResults.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    VpcId: p.string(),
    SecurityGroupId: p.string(),
    SecurityGroupIds: p.jsonList({ max: 100, code: 'InvalidSecurityGroupIds.Malformed' }),
    SecurityGroupName: p.string(),
    /** With FuzzyQuery, SecurityGroupName matches any group whose name contains it. */
    FuzzyQuery: p.bool(),
    SecurityGroupType: p.enum(['normal', 'enterprise']),
    NetworkType: p.enum(['vpc', 'classic']),
    ServiceManaged: p.bool(),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
    PageNumber: p.int({ min: 1 }),
    PageSize: p.int({ min: 1, max: 50 }),
    NextToken: p.string(),
    MaxResults: p.int({ min: 1, max: 100 }),
  },
  async handler(ctx, params) {
    const ids = [...(params.SecurityGroupIds ?? []), ...(params.SecurityGroupId ? [params.SecurityGroupId] : [])];
    const name = params.SecurityGroupName;
    const rows = (
      await ctx.tx.list<SecurityGroupData>({
        kind: KIND.securityGroup,
        account: ctx.account,
        region: params.RegionId,
        ids: ids.length > 0 ? ids : undefined,
        name: name && !params.FuzzyQuery ? name : undefined,
        parent: params.VpcId || undefined,
      })
    ).filter(
      (r) =>
        (!name || !params.FuzzyQuery || r.data.SecurityGroupName.includes(name)) &&
        (params.SecurityGroupType === undefined || r.data.SecurityGroupType === params.SecurityGroupType) &&
        params.NetworkType !== 'classic' &&
        params.ServiceManaged !== true &&
        (!params.ResourceGroupId || r.data.ResourceGroupId === params.ResourceGroupId) &&
        matchesTags(r.data.Tags, params.Tag),
    );

    // NextToken/MaxResults (the newer paging) when asked for; PageNumber/PageSize otherwise.
    if (params.NextToken !== undefined || params.MaxResults !== undefined) {
      let after = 0;
      if (params.NextToken) {
        if (!/^\d{1,15}$/.test(params.NextToken)) throw invalid('InvalidNextToken.Malformed', 'The specified NextToken is not valid: pass the NextToken of the previous page.');
        after = Number(params.NextToken);
      }
      const size = params.MaxResults ?? 10;
      const rest = rows.filter((r) => r.seq > after);
      const page = rest.slice(0, size);
      return {
        RegionId: params.RegionId,
        TotalCount: rows.length,
        NextToken: rest.length > size ? String(page[page.length - 1].seq) : '',
        SecurityGroups: { SecurityGroup: page.map(present) },
      };
    }
    const number = params.PageNumber ?? 1;
    const size = params.PageSize ?? 10;
    return {
      RegionId: params.RegionId,
      TotalCount: rows.length,
      PageNumber: number,
      PageSize: size,
      SecurityGroups: { SecurityGroup: rows.slice((number - 1) * size, number * size).map(present) },
    };
  },
});

function present(r: Resource<SecurityGroupData>): Record<string, unknown> {
  const d = r.data;
  return {
    SecurityGroupId: r.id,
    SecurityGroupName: d.SecurityGroupName,
    Description: d.Description,
    VpcId: d.VpcId,
    SecurityGroupType: d.SecurityGroupType,
    CreationTime: d.CreationTime,
    ResourceGroupId: d.ResourceGroupId,
    ServiceManaged: false,
    RuleCount: d.Permissions.length,
    GroupToGroupRuleCount: d.Permissions.filter((x) => peerGroupOf(x) !== '').length,
    Tags: { Tag: d.Tags.map((t) => ({ TagKey: t.Key, TagValue: t.Value })) },
  };
}
