import { defineAction } from '../../action.ts';
import { KIND, type EipData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { matchesTags, pageByNumber, wrappedTags } from '../../resources/common.ts';

export const DescribeEipAddresses = defineAction({
  product: 'vpc',
  name: 'DescribeEipAddresses',
  summary: 'Lists EIPs, filtered by ID or address (comma lists), binding, status, ISP, name, pool and tags.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    AllocationId: p.csv({ max: 50 }),
    EipAddress: p.csv({ max: 50 }),
    AssociatedInstanceId: p.string(),
    AssociatedInstanceType: p.string(),
    Status: p.enum(['Associating', 'Unassociating', 'InUse', 'Available', 'Releasing']),
    ISP: p.string(),
    ChargeType: p.string(),
    EipName: p.string(),
    PublicIpAddressPoolId: p.string(),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
    PageNumber: p.int({ min: 1 }),
    PageSize: p.int({ min: 1, max: 100 }),
  },
  async handler(ctx, params) {
    const addresses = params.EipAddress && new Set(params.EipAddress);
    const page = await pageByNumber<EipData>(
      ctx.tx,
      { kind: KIND.eip, account: ctx.account, region: params.RegionId, ids: params.AllocationId, name: params.EipName, status: params.Status },
      params.PageNumber,
      params.PageSize,
      (r) =>
        (!addresses || addresses.has(r.data.IpAddress)) &&
        (!params.AssociatedInstanceId || r.data.InstanceId === params.AssociatedInstanceId) &&
        (!params.AssociatedInstanceType || r.data.InstanceType === params.AssociatedInstanceType) &&
        (!params.ISP || r.data.ISP === params.ISP) &&
        (!params.ChargeType || r.data.InstanceChargeType === params.ChargeType) &&
        (!params.PublicIpAddressPoolId || r.data.PublicIpAddressPoolId === params.PublicIpAddressPoolId) &&
        (!params.ResourceGroupId || (r.data.ResourceGroupId ?? '') === params.ResourceGroupId) &&
        matchesTags(r.data.Tags, params.Tag),
    );
    const eips = page.items.map((r) => ({
      AllocationId: r.id,
      IpAddress: r.data.IpAddress,
      Status: r.status,
      RegionId: r.region,
      InstanceId: r.data.InstanceId,
      InstanceType: r.data.InstanceType,
      InstanceRegionId: r.data.InstanceRegionId,
      PrivateIpAddress: r.data.PrivateIpAddress,
      VpcId: r.data.VpcId,
      Bandwidth: String(r.data.Bandwidth),
      EipBandwidth: String(r.data.Bandwidth),
      InternetChargeType: r.data.InternetChargeType,
      ChargeType: r.data.InstanceChargeType,
      ISP: r.data.ISP,
      Name: r.data.Name,
      Description: r.data.Description,
      BandwidthPackageId: r.data.BandwidthPackageId,
      BandwidthPackageBandwidth: r.data.BandwidthPackageBandwidth,
      BandwidthPackageType: r.data.BandwidthPackageId ? 'CommonBandwidthPackage' : '',
      PublicIpAddressPoolId: r.data.PublicIpAddressPoolId,
      AllocationTime: r.data.AllocationTime,
      ExpiredTime: '',
      Mode: r.data.Mode,
      Netmode: 'public',
      ResourceGroupId: r.data.ResourceGroupId ?? '',
      DeletionProtection: false,
      Tags: wrappedTags(r.data.Tags),
      OperationLocks: { LockReason: [] },
    }));
    return { TotalCount: page.total, PageNumber: page.pageNumber, PageSize: page.pageSize, EipAddresses: { EipAddress: eips } };
  },
});
