import { defineAction } from '../../action.ts';
import { parseIp } from '../../../core/cidr.ts';
import { KIND, type EipData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { matchesTags } from '../../resources/common.ts';
import { blockUsage, type IpPoolRecord } from '../../resources/vpc.ts';

// Declared outside defineAction: inline, the contextual type `Spec` would widen the inferred item types.
const poolIdsParam = p.list(p.string(), { max: 100 });
const tagsFilterParam = p.list(p.struct({ Key: p.string({ required: true }), Value: p.string() }), { max: 20 });

export const ListPublicIpAddressPools = defineAction({
  product: 'vpc',
  name: 'ListPublicIpAddressPools',
  summary: "Lists the account's public IP address pools with their address usage (token paging).",
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    PublicIpAddressPoolIds: poolIdsParam,
    Name: p.string(),
    Isp: p.string(),
    Status: p.enum(['Created', 'Deleting', 'Modifying']),
    ResourceGroupId: p.string(),
    // This action names its tag filter Tags.N, not Tag.N.
    Tags: tagsFilterParam,
    NextToken: p.string({ pattern: /^\d{1,15}$/, hint: 'use the NextToken of the previous page' }),
    MaxResults: p.int({ min: 10, max: 100, default: 10 }),
  },
  async handler(ctx, params) {
    const ids = params.PublicIpAddressPoolIds?.filter((id) => id !== '');
    const pools = (
      await ctx.tx.list<IpPoolRecord>({
        kind: KIND.ipPool,
        account: ctx.account,
        region: params.RegionId,
        ids: ids?.length ? ids : undefined,
        name: params.Name || undefined,
        status: params.Status,
      })
    ).filter(
      (r) =>
        (!params.Isp || r.data.Isp === params.Isp) &&
        (!params.ResourceGroupId || r.data.ResourceGroupId === params.ResourceGroupId) &&
        matchesTags(r.data.Tags, params.Tags),
    );
    // The token is the insertion order (seq) of the last pool of the previous page: stable while pools come and go.
    const after = params.NextToken ? Number(params.NextToken) : 0;
    const rest = pools.filter((r) => r.seq > after);
    const page = rest.slice(0, params.MaxResults);
    const eips = page.length ? await ctx.tx.list<EipData>({ kind: KIND.eip, account: ctx.account, region: params.RegionId }) : [];
    return {
      TotalCount: pools.length,
      NextToken: rest.length > page.length ? String(page[page.length - 1].seq) : '',
      PublicIpAddressPoolList: page.map((r) => {
        const ips = eips.filter((e) => e.data.PublicIpAddressPoolId === r.id).map((e) => parseIp(e.data.IpAddress)!);
        let total = 0;
        let used = 0;
        for (const b of r.data.CidrBlocks) {
          const u = blockUsage(b.CidrBlock, ips);
          total += u.total;
          used += u.used;
        }
        return {
          PublicIpAddressPoolId: r.id,
          RegionId: r.region,
          Name: r.data.Name,
          Description: r.data.Description,
          Isp: r.data.Isp,
          BizType: r.data.BizType,
          Status: r.status,
          BusinessStatus: 'Normal',
          CreationTime: r.data.CreationTime,
          TotalIpNum: total,
          UsedIpNum: used,
          IpAddressRemaining: used < total,
          ResourceGroupId: r.data.ResourceGroupId ?? '',
          Zones: [],
          SecurityProtectionTypes: [],
          Tags: r.data.Tags.map((t) => ({ Key: t.Key, Value: t.Value })),
        };
      }),
    };
  },
});
