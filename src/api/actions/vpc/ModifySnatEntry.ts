import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';
import { checkSnatIps, NAT_NAME, NAT_NAME_CODE, requireSnatEntry, requireSnatTable } from '../../resources/nat.ts';

export const ModifySnatEntry = defineAction({
  product: 'vpc',
  name: 'ModifySnatEntry',
  summary: 'Changes the EIPs, name or EIP affinity of a SNAT entry; its source scope is fixed.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    SnatTableId: p.string({ required: true }),
    SnatEntryId: p.string({ required: true }),
    SnatIp: p.string(),
    SnatEntryName: p.string({ pattern: NAT_NAME, code: NAT_NAME_CODE, hint: '2-128 characters starting with a letter, not http:// or https://' }),
    EipAffinity: p.int({ min: 0, max: 1 }),
  },
  async handler(ctx, params) {
    const nat = await requireSnatTable(ctx.tx, ctx.account, params.RegionId, params.SnatTableId);
    const entry = await requireSnatEntry(ctx.tx, nat, params.SnatEntryId);
    const data = { ...entry.data };
    if (params.SnatIp !== undefined && params.SnatIp !== '') data.SnatIp = (await checkSnatIps(ctx.tx, nat, params.SnatIp)).join(',');
    if (params.SnatEntryName !== undefined) data.SnatEntryName = params.SnatEntryName;
    if (params.EipAffinity !== undefined) data.EipAffinity = params.EipAffinity;
    entry.data = data;
    entry.name = data.SnatEntryName;
    await ctx.tx.update(entry);
    return {};
  },
});
