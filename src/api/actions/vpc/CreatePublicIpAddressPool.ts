import { defineAction } from '../../action.ts';
import { newId } from '../../../core/ids.ts';
import { KIND } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { checkQuota, normalizeTags } from '../../resources/common.ts';
import type { IpPoolRecord } from '../../resources/vpc.ts';

const NAME = /^(?!https?:\/\/)[^\x00-\x1f]{1,128}$/su;

export const CreatePublicIpAddressPool = defineAction({
  product: 'vpc',
  name: 'CreatePublicIpAddressPool',
  summary: 'Creates an (empty) public IP address pool; add CIDR blocks to it, then allocate EIPs from it.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    Name: p.string({ pattern: NAME, code: 'InvalidName.Malformed' }),
    Description: p.string({ max: 256, code: 'InvalidDescription.Malformed' }),
    Isp: p.enum(['BGP', 'BGP_PRO'], { default: 'BGP', code: 'IllegalParam.Isp' }),
    BizType: p.enum(['Default', 'CloudBox'], { default: 'Default' }),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
  },
  async handler(ctx, params) {
    await checkQuota(ctx.tx, { kind: KIND.ipPool, account: ctx.account, region: params.RegionId }, ctx.config.quotas.ipPools, 'QuotaExceeded.PublicIpAddressPool', 'public IP address pools');
    const id = newId('ipPool', ctx.random);
    const data: IpPoolRecord = {
      PublicIpAddressPoolId: id,
      Name: params.Name ?? '',
      Description: params.Description ?? '',
      Isp: params.Isp,
      BizType: params.BizType,
      CreationTime: ctx.nowText,
      CidrBlocks: [],
      Tags: normalizeTags(params.Tag),
      ResourceGroupId: params.ResourceGroupId ?? '',
    };
    await ctx.tx.insert({ kind: KIND.ipPool, id, account: ctx.account, region: params.RegionId, name: data.Name, status: 'Created', parent: '', createdAt: ctx.nowText, data });
    // The reference answers the id twice, once under a misspelt name; SDKs read both.
    return { PublicIpAddressPoolId: id, PulbicIpAddressPoolId: id, ResourceGroupId: data.ResourceGroupId };
  },
});
