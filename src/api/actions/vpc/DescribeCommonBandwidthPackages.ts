import { defineAction } from '../../action.ts';
import { KIND, type EipData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import type { BandwidthPackageRecord } from '../../resources/bandwidth-package.ts';
import { matchesTags, pageByNumber, wrappedTags } from '../../resources/common.ts';

export const DescribeCommonBandwidthPackages = defineAction({
  product: 'vpc',
  name: 'DescribeCommonBandwidthPackages',
  summary: 'Lists common bandwidth packages with the EIPs in each.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    BandwidthPackageId: p.string(),
    Name: p.string(),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
    IncludeReservationData: p.bool(),
    PageNumber: p.int({ min: 1 }),
    PageSize: p.int({ min: 1, max: 50 }),
  },
  async handler(ctx, params) {
    const page = await pageByNumber<BandwidthPackageRecord>(
      ctx.tx,
      {
        kind: KIND.bandwidthPackage,
        account: ctx.account,
        region: params.RegionId,
        ids: params.BandwidthPackageId ? [params.BandwidthPackageId] : undefined,
        name: params.Name || undefined,
      },
      params.PageNumber,
      params.PageSize,
      (r) => (!params.ResourceGroupId || r.data.ResourceGroupId === params.ResourceGroupId) && matchesTags(r.data.Tags, params.Tag),
      50,
    );
    const members = new Map<string, EipData[]>();
    if (page.items.length) {
      for (const e of await ctx.tx.list<EipData>({ kind: KIND.eip, account: ctx.account, region: params.RegionId })) {
        if (!e.data.BandwidthPackageId) continue;
        const list = members.get(e.data.BandwidthPackageId) ?? [];
        list.push(e.data);
        members.set(e.data.BandwidthPackageId, list);
      }
    }
    return {
      TotalCount: page.total,
      PageNumber: page.pageNumber,
      PageSize: page.pageSize,
      CommonBandwidthPackages: {
        CommonBandwidthPackage: page.items.map((r) => ({
          BandwidthPackageId: r.id,
          RegionId: r.region,
          Name: r.data.Name,
          Description: r.data.Description,
          // A string on the wire, as the reference answers it.
          Bandwidth: String(r.data.Bandwidth),
          ISP: r.data.ISP,
          InternetChargeType: r.data.InternetChargeType,
          InstanceChargeType: 'PostPaid',
          Ratio: r.data.Ratio,
          Status: r.status,
          BusinessStatus: 'Normal',
          CreationTime: r.data.CreationTime,
          ExpiredTime: '',
          ResourceGroupId: r.data.ResourceGroupId ?? '',
          Zone: r.data.Zone ?? '',
          DeletionProtection: false,
          ServiceManaged: 0,
          HasReservationData: 'false',
          SecurityProtectionTypes: { SecurityProtectionType: [] },
          // The reference's own spelling: PublicIpAddresse, and BINDED for a completed binding.
          PublicIpAddresses: {
            PublicIpAddresse: (members.get(r.id) ?? []).map((e) => ({ AllocationId: e.AllocationId, IpAddress: e.IpAddress, BandwidthPackageIpRelationStatus: 'BINDED' })),
          },
          Tags: wrappedTags(r.data.Tags),
        })),
      },
    };
  },
});
