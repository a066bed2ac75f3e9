import { defineAction } from '../../action.ts';
import { formatCidr } from '../../../core/cidr.ts';
import { newId } from '../../../core/ids.ts';
import { KIND, type VpcData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { checkQuota, normalizeTags } from '../../resources/common.ts';
import { parseVpcCidr } from '../../resources/vpc.ts';

const NAME = /^(?!https?:\/\/)[^\x00-\x1f]{1,128}$/su;

export const CreateVpc = defineAction({
  product: 'vpc',
  name: 'CreateVpc',
  summary: 'Creates a VPC: an isolated private network that may overlap other VPCs.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    CidrBlock: p.string({ default: '172.16.0.0/12' }),
    VpcName: p.string({ pattern: NAME, code: 'InvalidVpcName.Malformed' }),
    Description: p.string({ max: 256, code: 'InvalidDescription.Malformed' }),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
  },
  async handler(ctx, params) {
    const cidr = parseVpcCidr(params.CidrBlock);
    await checkQuota(ctx.tx, { kind: KIND.vpc, account: ctx.account, region: params.RegionId }, ctx.config.quotas.vpcs, 'QuotaExceeded.Vpc', 'VPCs');
    const id = newId('vpc', ctx.random);
    const data: VpcData = {
      VpcId: id,
      VpcName: params.VpcName ?? '',
      Description: params.Description ?? '',
      CidrBlock: formatCidr(cidr),
      VRouterId: newId('vRouter', ctx.random),
      RouteTableId: newId('routeTable', ctx.random),
      IsDefault: false,
      ResourceGroupId: params.ResourceGroupId ?? '',
      CreationTime: ctx.nowText,
      Tags: normalizeTags(params.Tag),
    };
    await ctx.tx.insert({ kind: KIND.vpc, id, account: ctx.account, region: params.RegionId, name: data.VpcName, status: 'Available', parent: '', createdAt: ctx.nowText, data });
    return { VpcId: id, VRouterId: data.VRouterId, RouteTableId: data.RouteTableId, ResourceGroupId: data.ResourceGroupId };
  },
});
