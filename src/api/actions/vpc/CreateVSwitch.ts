import { defineAction } from '../../action.ts';
import { formatCidr } from '../../../core/cidr.ts';
import { notFound } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { KIND, type VSwitchData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { checkQuota, normalizeTags } from '../../resources/common.ts';
import { checkVSwitchCidr, requireVpcIn, zonesOf } from '../../resources/vpc.ts';

const NAME = /^(?!https?:\/\/)[^\x00-\x1f]{1,128}$/su;

export const CreateVSwitch = defineAction({
  product: 'vpc',
  name: 'CreateVSwitch',
  summary: 'Creates a vSwitch: a subnet of a VPC in one zone, from which instances take their private IPs.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    VpcId: p.string({ required: true }),
    ZoneId: p.string({ required: true }),
    CidrBlock: p.string({ required: true }),
    VSwitchName: p.string({ pattern: NAME, code: 'InvalidVSwitchName.Malformed' }),
    // The reference's own spelling of this code.
    Description: p.string({ max: 256, code: 'InvalidVSwitchDiscription.Malformed' }),
    Tag: tagsParam,
  },
  async handler(ctx, params) {
    const vpc = await requireVpcIn(ctx.tx, ctx.account, params.RegionId, params.VpcId);
    if (!zonesOf(ctx, params.RegionId).includes(params.ZoneId))
      throw notFound('InvalidZoneId.NotFound', `The specified ZoneId "${params.ZoneId}" does not exist in region ${params.RegionId}.`);
    const cidr = await checkVSwitchCidr(ctx.tx, vpc, params.CidrBlock);
    await checkQuota(ctx.tx, { kind: KIND.vSwitch, parent: vpc.id }, ctx.config.quotas.vSwitchesPerVpc, 'QuotaExceeded.VSwitch', `vSwitches per VPC`);
    const id = newId('vSwitch', ctx.random);
    const data: VSwitchData = {
      VSwitchId: id,
      VpcId: vpc.id,
      ZoneId: params.ZoneId,
      CidrBlock: formatCidr(cidr),
      VSwitchName: params.VSwitchName ?? '',
      Description: params.Description ?? '',
      IsDefault: false,
      CreationTime: ctx.nowText,
      Tags: normalizeTags(params.Tag),
    };
    await ctx.tx.insert({ kind: KIND.vSwitch, id, account: ctx.account, region: params.RegionId, name: data.VSwitchName, status: 'Available', parent: vpc.id, createdAt: ctx.nowText, data });
    return { VSwitchId: id };
  },
});
