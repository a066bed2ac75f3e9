import { defineAction } from '../../action.ts';
import { notFound } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { KIND, type NatGatewayData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { checkQuota, normalizeTags } from '../../resources/common.ts';
import { NAT_NAME, NAT_NAME_CODE } from '../../resources/nat.ts';
import { requireVpc, requireVSwitch } from '../../resources/vpc.ts';

export const CreateNatGateway = defineAction({
  product: 'vpc',
  name: 'CreateNatGateway',
  summary: 'Creates an enhanced NAT gateway in a VPC: SNAT gives its instances Internet access, DNAT forwards public ports to them.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    VpcId: p.string({ required: true }),
    // An enhanced gateway lives in a vSwitch of its VPC; the reference requires it for NatType Enhanced.
    VSwitchId: p.string({ required: true }),
    NatType: p.enum(['Enhanced'], { default: 'Enhanced' }),
    NetworkType: p.enum(['internet', 'intranet'], { default: 'internet' }),
    Name: p.string({ pattern: NAT_NAME, code: NAT_NAME_CODE, hint: '2-128 characters starting with a letter, not http:// or https://' }),
    Description: p.string({ max: 256, code: 'InvalidDescription.Malformed' }),
    EipBindMode: p.enum(['MULTI_BINDED', 'NAT'], { default: 'MULTI_BINDED' }),
    InternetChargeType: p.enum(['PayByLcu', 'PayBySpec'], { default: 'PayByLcu' }),
    InstanceChargeType: p.enum(['PostPaid', 'PrePaid'], { default: 'PostPaid' }),
    IcmpReplyEnabled: p.bool({ default: true }),
    Tag: tagsParam,
  },
  async handler(ctx, params) {
    const vpc = await requireVpc(ctx.tx, ctx.account, params.VpcId);
    if (vpc.region !== params.RegionId)
      throw notFound('InvalidVpcId.NotFound', `The specified VpcId "${vpc.id}" does not exist in the region ${params.RegionId}.`);
    const vsw = await requireVSwitch(ctx.tx, ctx.account, params.VSwitchId);
    if (vsw.data.VpcId !== vpc.id)
      throw notFound('InvalidVSwitchId.NotFound', `The specified vSwitch "${vsw.id}" does not exist in the VPC ${vpc.id}.`);
    const tags = normalizeTags(params.Tag);
    await checkQuota(ctx.tx, { kind: KIND.natGateway, account: ctx.account, region: params.RegionId }, ctx.config.quotas.natGateways, 'QuotaExceeded.NatGateway', 'NAT gateways');
    const id = newId('natGateway', ctx.random);
    const data: NatGatewayData = {
      NatGatewayId: id,
      VpcId: vpc.id,
      VSwitchId: vsw.id,
      Name: params.Name ?? '',
      Description: params.Description ?? '',
      NatType: params.NatType,
      NetworkType: params.NetworkType,
      EipBindMode: params.EipBindMode,
      InternetChargeType: params.InternetChargeType,
      InstanceChargeType: params.InstanceChargeType,
      SnatTableId: newId('snatTable', ctx.random),
      ForwardTableId: newId('forwardTable', ctx.random),
      IcmpReplyEnabled: params.IcmpReplyEnabled,
      CreationTime: ctx.nowText,
      Tags: tags,
    };
    // Recorded Available at once: see src/api/resources/nat.ts for why there is no Creating phase.
    await ctx.tx.insert({ kind: KIND.natGateway, id, account: ctx.account, region: params.RegionId, name: data.Name, status: 'Available', parent: vpc.id, createdAt: ctx.nowText, data });
    return {
      NatGatewayId: id,
      SnatTableIds: { SnatTableId: [data.SnatTableId] },
      ForwardTableIds: { ForwardTableId: [data.ForwardTableId] },
      FullNatTableIds: { FullNatTableId: [] },
    };
  },
});
