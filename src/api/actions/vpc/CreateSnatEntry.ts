import { defineAction } from '../../action.ts';
import { containsCidr, formatCidr, parseCidr } from '../../../core/cidr.ts';
import { invalid, invalidParameter, missingParameter, notFound, quotaExceeded } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { KIND, type SnatEntryData, type VpcData } from '../../../core/model.ts';
import { findSnatClash, parseSnatSource, type SnatScope } from '../../../core/nat.ts';
import { p } from '../../../core/params.ts';
import { checkSnatIps, NAT_NAME, NAT_NAME_CODE, requireSnatTable, snatEntriesOf } from '../../resources/nat.ts';
import { requireVSwitch } from '../../resources/vpc.ts';

export const CreateSnatEntry = defineAction({
  product: 'vpc',
  name: 'CreateSnatEntry',
  summary: 'Adds a SNAT entry: traffic from a vSwitch or a CIDR of the VPC leaves through the listed EIPs of the NAT gateway.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    SnatTableId: p.string({ required: true }),
    SnatIp: p.string(),
    SourceVSwitchId: p.string(),
    SourceCIDR: p.string(),
    SnatEntryName: p.string({ pattern: NAT_NAME, code: NAT_NAME_CODE, hint: '2-128 characters starting with a letter, not http:// or https://' }),
    EipAffinity: p.int({ min: 0, max: 1, default: 0 }),
  },
  async handler(ctx, params) {
    const nat = await requireSnatTable(ctx.tx, ctx.account, params.RegionId, params.SnatTableId);
    const byVSwitch = params.SourceVSwitchId !== undefined && params.SourceVSwitchId !== '';
    const byCidr = params.SourceCIDR !== undefined && params.SourceCIDR !== '';
    if (byVSwitch && byCidr)
      throw invalidParameter('SourceCIDR', 'SourceVSwitchId and SourceCIDR are mutually exclusive: give exactly one.');
    if (!byVSwitch && !byCidr) throw missingParameter('SourceVSwitchId or SourceCIDR');
    if (!params.SnatIp) throw missingParameter('SnatIp');

    const vpc = (await ctx.tx.get<VpcData>(KIND.vpc, nat.data.VpcId))!;
    const vpcCidr = parseCidr(vpc.data.CidrBlock)!;
    let scope: SnatScope;
    if (byVSwitch) {
      const vsw = await requireVSwitch(ctx.tx, ctx.account, params.SourceVSwitchId!);
      if (vsw.data.VpcId !== vpc.id)
        throw notFound('InvalidVSwitchId.NotFound', `The specified vSwitch "${vsw.id}" does not exist in the VPC ${vpc.id} of the NAT gateway.`);
      scope = { id: '', vSwitchId: vsw.id, cidr: parseCidr(vsw.data.CidrBlock)! };
    } else {
      const cidr = parseSnatSource(params.SourceCIDR!);
      if (!cidr) throw invalidParameter('SourceCIDR', 'Use a CIDR block with its host bits clear, such as 192.168.1.0/24, or one address.');
      if (!containsCidr(vpcCidr, cidr))
        throw invalid('NOT_ALLOW_USE_SOURCECIDR', `The SourceCIDR ${params.SourceCIDR} is outside the CIDR ${vpc.data.CidrBlock} of the VPC ${vpc.id}.`);
      scope = { id: '', vSwitchId: '', cidr };
    }

    const entries = await snatEntriesOf(ctx.tx, nat);
    const clash = findSnatClash(
      entries.map((e) => ({ id: e.id, vSwitchId: e.data.SourceVSwitchId, cidr: parseCidr(e.data.SourceCIDR)! })),
      scope,
    );
    if (clash?.kind === 'vSwitch')
      throw invalid('Forbidden.SourceVSwitchId.Duplicated', `The vSwitch ${scope.vSwitchId} (${formatCidr(scope.cidr)}) is already the source of the SNAT entry ${clash.with}.`);
    if (clash?.kind === 'cidr')
      throw invalid('Forbidden.SourceCIDR.Duplicated', `The source ${formatCidr(scope.cidr)} is already the source of the SNAT entry ${clash.with}.`);

    const ips = await checkSnatIps(ctx.tx, nat, params.SnatIp);
    if (entries.length >= ctx.config.quotas.snatEntriesPerTable)
      throw quotaExceeded('Forbidden.SnatEntryCountLimited', `The SNAT table ${nat.data.SnatTableId} holds its maximum of ${ctx.config.quotas.snatEntriesPerTable} entries.`);

    const id = newId('snatEntry', ctx.random);
    const data: SnatEntryData = {
      SnatEntryId: id,
      SnatTableId: nat.data.SnatTableId,
      NatGatewayId: nat.id,
      SnatIp: ips.join(','),
      // A vSwitch scope answers the vSwitch's CIDR here, as the reference does; it never changes.
      SourceCIDR: formatCidr(scope.cidr),
      SourceVSwitchId: scope.vSwitchId,
      SnatEntryName: params.SnatEntryName ?? '',
      EipAffinity: params.EipAffinity,
    };
    await ctx.tx.insert({ kind: KIND.snatEntry, id, account: ctx.account, region: nat.region, name: data.SnatEntryName, status: 'Available', parent: nat.id, createdAt: ctx.nowText, data });
    return { SnatEntryId: id };
  },
});
