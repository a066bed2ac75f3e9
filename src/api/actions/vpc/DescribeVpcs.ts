import { defineAction } from '../../action.ts';
import { KIND, type VpcData, type VSwitchData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { matchesTags, pageByNumber, wrappedTags } from '../../resources/common.ts';

export const DescribeVpcs = defineAction({
  product: 'vpc',
  name: 'DescribeVpcs',
  summary: 'Lists VPCs, filtered by ID (comma list), name, default flag and tags.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    VpcId: p.csv({ max: 20 }),
    VpcName: p.string(),
    IsDefault: p.bool(),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
    PageNumber: p.int({ min: 1 }),
    PageSize: p.int({ min: 1, max: 50 }),
  },
  async handler(ctx, params) {
    const page = await pageByNumber<VpcData>(
      ctx.tx,
      { kind: KIND.vpc, account: ctx.account, region: params.RegionId, ids: params.VpcId, name: params.VpcName },
      params.PageNumber,
      params.PageSize,
      (r) =>
        (params.IsDefault === undefined || r.data.IsDefault === params.IsDefault) &&
        (params.ResourceGroupId === undefined || r.data.ResourceGroupId === params.ResourceGroupId) &&
        matchesTags(r.data.Tags, params.Tag),
      50,
    );
    const vpcs = [];
    for (const r of page.items) {
      const vsws = await ctx.tx.list<VSwitchData>({ kind: KIND.vSwitch, parent: r.id });
      vpcs.push({
        VpcId: r.id,
        RegionId: r.region,
        Status: r.status,
        VpcName: r.data.VpcName,
        Description: r.data.Description,
        CidrBlock: r.data.CidrBlock,
        VRouterId: r.data.VRouterId,
        IsDefault: r.data.IsDefault,
        CreationTime: r.data.CreationTime,
        ResourceGroupId: r.data.ResourceGroupId,
        VSwitchIds: { VSwitchId: vsws.map((v) => v.id) },
        Tags: wrappedTags(r.data.Tags),
      });
    }
    return { TotalCount: page.total, PageNumber: page.pageNumber, PageSize: page.pageSize, Vpcs: { Vpc: vpcs } };
  },
});
