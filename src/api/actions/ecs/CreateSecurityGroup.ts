import { defineAction } from '../../action.ts';
import { ApiError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { KIND, type SecurityGroupData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { normalizeTags } from '../../resources/common.ts';
import { requireVpc } from '../../resources/vpc.ts';

/** Empty, or 2–128 characters: a letter first, then letters, digits, `:`, `_`, `.`, `-` (the reference's rule). */
const NAME = /^(\p{L}[\p{L}\p{N}:_.-]{1,127})?$/u;
/** Empty, or 2–256 characters not starting with http:// or https://. */
const DESCRIPTION = /^((?!https?:\/\/)[^]{2,256})?$/u;

export const CreateSecurityGroup = defineAction({
  product: 'ecs',
  name: 'CreateSecurityGroup',
  summary: 'Creates an empty security group in a VPC: ingress is closed, egress open, members reach each other unless the group is enterprise.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    VpcId: p.string(),
    SecurityGroupName: p.string({ pattern: NAME, code: 'InvalidSecurityGroupName.Malformed', hint: '2 to 128 characters, a letter first, then letters, digits, colons, underscores, periods or hyphens' }),
    Description: p.string({ pattern: DESCRIPTION, code: 'InvalidDescription.Malformed', hint: '2 to 256 characters, not starting with http:// or https://' }),
    SecurityGroupType: p.enum(['normal', 'enterprise'], { default: 'normal', code: 'InvalidParams.GroupType' }),
    ResourceGroupId: p.string(),
    Tag: tagsParam,
  },
  async handler(ctx, params) {
    // OpenECI has only VPC networking; the reference answers this 403 when a VPC-only region gets no VpcId.
    if (!params.VpcId) throw new ApiError('Forbidden', 'InvalidVpcId.NotFound', 'The VpcId must not empty when only support vpc vm.');
    const vpc = await requireVpc(ctx.tx, ctx.account, params.VpcId);
    if (vpc.region !== params.RegionId) throw new ApiError('NotFound', 'InvalidVpcId.NotFound', `Specified VPC "${params.VpcId}" does not exist in ${params.RegionId}.`);
    const tags = normalizeTags(params.Tag);
    const limit = ctx.config.quotas.securityGroups;
    if ((await ctx.tx.count({ kind: KIND.securityGroup, account: ctx.account, region: params.RegionId })) >= limit)
      throw new ApiError('QuotaExceeded', 'QuotaExceed.SecurityGroup', `The maximum number of security groups is reached (${limit} per region).`, 403);
    const id = newId('securityGroup', ctx.random);
    const data: SecurityGroupData = {
      SecurityGroupId: id,
      SecurityGroupName: params.SecurityGroupName ?? '',
      Description: params.Description ?? '',
      VpcId: vpc.id,
      SecurityGroupType: params.SecurityGroupType,
      ResourceGroupId: params.ResourceGroupId ?? '',
      CreationTime: ctx.nowText,
      Tags: tags,
      Permissions: [],
    };
    await ctx.tx.insert({ kind: KIND.securityGroup, id, account: ctx.account, region: params.RegionId, name: data.SecurityGroupName, status: 'Available', parent: vpc.id, createdAt: ctx.nowText, data });
    return { SecurityGroupId: id };
  },
});
