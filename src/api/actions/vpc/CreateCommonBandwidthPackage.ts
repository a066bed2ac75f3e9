import { defineAction } from '../../action.ts';
import { newId } from '../../../core/ids.ts';
import { KIND } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { CBWP_BANDWIDTH_MAX, CBWP_BANDWIDTH_MIN, type BandwidthPackageRecord } from '../../resources/bandwidth-package.ts';
import { checkQuota, normalizeTags } from '../../resources/common.ts';

const NAME = /^(?!https?:\/\/)[^\x00-\x1f]{1,128}$/su;

export const CreateCommonBandwidthPackage = defineAction({
  product: 'vpc',
  name: 'CreateCommonBandwidthPackage',
  summary: 'Creates a common bandwidth package: one bandwidth limit shared by the EIPs added to it.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    Bandwidth: p.int({ min: CBWP_BANDWIDTH_MIN, max: CBWP_BANDWIDTH_MAX, default: 1 }),
    ISP: p.enum(['BGP', 'BGP_PRO'], { default: 'BGP' }),
    InternetChargeType: p.enum(['PayByBandwidth', 'PayBy95', 'PayByDominantTraffic'], { default: 'PayByBandwidth' }),
    Ratio: p.int({ min: 10, max: 100, default: 20 }),
    Name: p.string({ pattern: NAME, code: 'InvalidName.Malformed' }),
    Description: p.string({ max: 256, code: 'InvalidDescription.Malformed' }),
    Zone: p.string(),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
  },
  async handler(ctx, params) {
    await checkQuota(ctx.tx, { kind: KIND.bandwidthPackage, account: ctx.account, region: params.RegionId }, ctx.config.quotas.bandwidthPackages, 'QuotaExceeded.BandwidthPackage', 'common bandwidth packages');
    const id = newId('bandwidthPackage', ctx.random);
    const data: BandwidthPackageRecord = {
      BandwidthPackageId: id,
      Name: params.Name ?? '',
      Description: params.Description ?? '',
      Bandwidth: params.Bandwidth,
      ISP: params.ISP,
      InternetChargeType: params.InternetChargeType,
      Ratio: params.Ratio,
      CreationTime: ctx.nowText,
      Tags: normalizeTags(params.Tag),
      ResourceGroupId: params.ResourceGroupId ?? '',
      Zone: params.Zone ?? '',
    };
    await ctx.tx.insert({ kind: KIND.bandwidthPackage, id, account: ctx.account, region: params.RegionId, name: data.Name, status: 'Available', parent: '', createdAt: ctx.nowText, data });
    return { BandwidthPackageId: id, ResourceGroupId: data.ResourceGroupId };
  },
});
