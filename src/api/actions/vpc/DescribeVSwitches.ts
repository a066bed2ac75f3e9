import { defineAction } from '../../action.ts';
import { missingParameter } from '../../../core/errors.ts';
import { KIND, type VpcData, type VSwitchData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { matchesTags, pageByNumber } from '../../resources/common.ts';
import { vSwitchView } from '../../resources/vpc.ts';

export const DescribeVSwitches = defineAction({
  product: 'vpc',
  name: 'DescribeVSwitches',
  summary: 'Lists vSwitches, filtered by VPC, ID (comma list), zone, name, default flag and tags.',
  mutating: false,
  params: {
    RegionId: p.string(),
    VpcId: p.string(),
    VSwitchId: p.csv({ max: 50 }),
    ZoneId: p.string(),
    VSwitchName: p.string(),
    IsDefault: p.bool(),
    RouteTableId: p.string(),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
    PageNumber: p.int({ min: 1 }),
    PageSize: p.int({ min: 1, max: 50 }),
  },
  async handler(ctx, params) {
    // The reference needs a region or a VPC to scope the listing.
    if (!params.RegionId && !params.VpcId) throw missingParameter('RegionId');
    const vpcs = new Map<string, VpcData>();
    for (const v of await ctx.tx.list<VpcData>({ kind: KIND.vpc, account: ctx.account, region: params.RegionId || undefined }))
      vpcs.set(v.id, v.data);
    const page = await pageByNumber<VSwitchData>(
      ctx.tx,
      {
        kind: KIND.vSwitch,
        account: ctx.account,
        region: params.RegionId || undefined,
        parent: params.VpcId || undefined,
        ids: params.VSwitchId,
        name: params.VSwitchName,
      },
      params.PageNumber,
      params.PageSize,
      (r) =>
        (!params.ZoneId || r.data.ZoneId === params.ZoneId) &&
        (params.IsDefault === undefined || r.data.IsDefault === params.IsDefault) &&
        (!params.ResourceGroupId || vpcs.get(r.data.VpcId)?.ResourceGroupId === params.ResourceGroupId) &&
        (!params.RouteTableId || vpcs.get(r.data.VpcId)?.RouteTableId === params.RouteTableId) &&
        matchesTags(r.data.Tags, params.Tag),
      50,
    );
    const items = [];
    for (const r of page.items) items.push(await vSwitchView(ctx.tx, r, vpcs.get(r.data.VpcId)));
    return { TotalCount: page.total, PageNumber: page.pageNumber, PageSize: page.pageSize, VSwitches: { VSwitch: items } };
  },
});
