import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { normalizeTags } from '../../resources/common.ts';
import { allocateEip, checkEipBandwidth, DEFAULT_EIP_BANDWIDTH } from '../../resources/eip.ts';

const NAME = /^(?!https?:\/\/)[^\x00-\x1f]{1,128}$/su;

export const AllocateEipAddress = defineAction({
  product: 'vpc',
  name: 'AllocateEipAddress',
  summary: 'Allocates an elastic IP address (Available) from a public IP address pool, pay-as-you-go.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    // A string so that a bad value answers the reference's exact "Bandwidth" message.
    Bandwidth: p.string(),
    InternetChargeType: p.enum(['PayByBandwidth', 'PayByTraffic'], { default: 'PayByBandwidth' }),
    InstanceChargeType: p.enum(['PostPaid', 'PrePaid'], { default: 'PostPaid' }),
    ISP: p.enum(['BGP', 'BGP_PRO'], { default: 'BGP' }),
    Netmode: p.enum(['public']),
    PublicIpAddressPoolId: p.string(),
    IpAddress: p.string(),
    Name: p.string({ pattern: NAME, code: 'InvalidName.Malformed' }),
    Description: p.string({ max: 256, code: 'InvalidDescription.Malformed' }),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
  },
  async handler(ctx, params) {
    if (params.InstanceChargeType === 'PrePaid')
      throw invalid('UnsupportedParameter', 'InstanceChargeType PrePaid (subscription) is not supported: OpenECI does not bill subscriptions. Use PostPaid.');
    const bandwidth = params.Bandwidth === undefined || params.Bandwidth === '' ? DEFAULT_EIP_BANDWIDTH : checkEipBandwidth(params.Bandwidth, params.InternetChargeType);
    const eip = await allocateEip(ctx, {
      regionId: params.RegionId,
      bandwidth,
      internetChargeType: params.InternetChargeType,
      isp: params.ISP,
      poolId: params.PublicIpAddressPoolId || undefined,
      ipAddress: params.IpAddress || undefined,
      name: params.Name,
      description: params.Description,
      tags: normalizeTags(params.Tag),
      resourceGroupId: params.ResourceGroupId,
    });
    // No OrderId: only subscriptions have orders, and the SDKs type it as a number ('' would decode as NaN).
    return { AllocationId: eip.id, EipAddress: eip.data.IpAddress, ResourceGroupId: eip.data.ResourceGroupId ?? '' };
  },
});
