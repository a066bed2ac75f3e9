import { defineAction } from '../../action.ts';
import { KIND, type NatGatewayData, type VSwitchData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { matchesTags, pageByNumber } from '../../resources/common.ts';
import { forwardEntriesOf, natEips, snatEntriesOf, snatIpsOf } from '../../resources/nat.ts';

export const DescribeNatGateways = defineAction({
  product: 'vpc',
  name: 'DescribeNatGateways',
  summary: 'Lists NAT gateways with their tables, bound EIPs (and what uses each) and vSwitch.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    NatGatewayId: p.string(),
    VpcId: p.string(),
    Name: p.string(),
    Status: p.string(),
    NatType: p.string(),
    NetworkType: p.string(),
    InstanceChargeType: p.string(),
    ZoneId: p.string(),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
    PageNumber: p.int({ min: 1 }),
    PageSize: p.int({ min: 1, max: 50 }),
  },
  async handler(ctx, params) {
    const zoneOf = new Map<string, string>();
    const zone = async (vswId: string): Promise<string> => {
      if (!zoneOf.has(vswId)) zoneOf.set(vswId, (await ctx.tx.get<VSwitchData>(KIND.vSwitch, vswId))?.data.ZoneId ?? '');
      return zoneOf.get(vswId)!;
    };
    const q = {
      kind: KIND.natGateway,
      account: ctx.account,
      region: params.RegionId,
      ids: params.NatGatewayId ? [params.NatGatewayId] : undefined,
      name: params.Name,
      status: params.Status,
      parent: params.VpcId,
    };
    const inZone = new Set<string>();
    if (params.ZoneId)
      for (const g of await ctx.tx.list<NatGatewayData>(q)) if ((await zone(g.data.VSwitchId)) === params.ZoneId) inZone.add(g.id);
    const page = await pageByNumber<NatGatewayData>(
      ctx.tx,
      q,
      params.PageNumber,
      params.PageSize,
      (r) =>
        (params.NatType === undefined || r.data.NatType === params.NatType) &&
        (params.NetworkType === undefined || r.data.NetworkType === params.NetworkType) &&
        (params.InstanceChargeType === undefined || r.data.InstanceChargeType === params.InstanceChargeType) &&
        // OpenECI has no resource groups: a gateway is in none, so naming one matches nothing.
        (params.ResourceGroupId === undefined || params.ResourceGroupId === '') &&
        (params.ZoneId === undefined || inZone.has(r.id)) &&
        matchesTags(r.data.Tags, params.Tag),
      50,
    );
    const gateways = [];
    for (const r of page.items) {
      const snatIps = new Set((await snatEntriesOf(ctx.tx, r)).flatMap((e) => snatIpsOf(e.data)));
      const dnatIps = new Set((await forwardEntriesOf(ctx.tx, r)).map((e) => e.data.ExternalIp));
      const ipList = (await natEips(ctx.tx, r)).map((eip) => ({
        AllocationId: eip.id,
        IpAddress: eip.data.IpAddress,
        PrivateIpAddress: '',
        UsingStatus: snatIps.has(eip.data.IpAddress) ? 'UsedBySnatTable' : dnatIps.has(eip.data.IpAddress) ? 'UsedByForwardTable' : 'Idle',
        SnatEntryEnabled: snatIps.has(eip.data.IpAddress),
      }));
      gateways.push({
        NatGatewayId: r.id,
        RegionId: r.region,
        VpcId: r.data.VpcId,
        Name: r.data.Name,
        Description: r.data.Description,
        Status: r.status,
        BusinessStatus: 'Normal',
        NatType: r.data.NatType,
        NetworkType: r.data.NetworkType,
        Spec: '',
        EipBindMode: r.data.EipBindMode,
        InternetChargeType: r.data.InternetChargeType,
        InstanceChargeType: r.data.InstanceChargeType,
        IcmpReplyEnabled: r.data.IcmpReplyEnabled,
        AutoPay: false,
        DeletionProtection: false,
        PrivateLinkEnabled: false,
        SecurityProtectionEnabled: false,
        EcsMetricEnabled: false,
        ResourceGroupId: '',
        CreationTime: r.data.CreationTime,
        ExpiredTime: '',
        SnatTableIds: { SnatTableId: [r.data.SnatTableId] },
        ForwardTableIds: { ForwardTableId: [r.data.ForwardTableId] },
        FullNatTableIds: { FullNatTableId: [] },
        IpLists: { IpList: ipList },
        NatGatewayPrivateInfo: {
          VswitchId: r.data.VSwitchId,
          IzNo: await zone(r.data.VSwitchId),
          EniInstanceId: '',
          EniType: '',
          PrivateIpAddress: '',
        },
        Tags: { Tag: r.data.Tags.map((t) => ({ TagKey: t.Key, TagValue: t.Value })) },
      });
    }
    return { TotalCount: page.total, PageNumber: page.pageNumber, PageSize: page.pageSize, NatGateways: { NatGateway: gateways } };
  },
});
