import { defineAction } from '../../action.ts';
import { KIND, type VpcData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { checkForwardEntry, NAT_NAME, NAT_NAME_CODE, requireForwardEntry, requireForwardTable } from '../../resources/nat.ts';

export const ModifyForwardEntry = defineAction({
  product: 'vpc',
  name: 'ModifyForwardEntry',
  summary: 'Changes a DNAT entry; the result passes the same checks as a new entry (the entry itself excepted).',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ForwardTableId: p.string({ required: true }),
    ForwardEntryId: p.string({ required: true }),
    ExternalIp: p.string(),
    ExternalPort: p.string(),
    InternalIp: p.string(),
    InternalPort: p.string(),
    IpProtocol: p.string(),
    ForwardEntryName: p.string({ pattern: NAT_NAME, code: NAT_NAME_CODE, hint: '2-128 characters starting with a letter, not http:// or https://' }),
    PortBreak: p.bool(),
  },
  async handler(ctx, params) {
    const nat = await requireForwardTable(ctx.tx, ctx.account, params.RegionId, params.ForwardTableId);
    const entry = await requireForwardEntry(ctx.tx, nat, params.ForwardEntryId);
    const vpc = (await ctx.tx.get<VpcData>(KIND.vpc, nat.data.VpcId))!;
    const pick = (given: string | undefined, stored: string): string => (given !== undefined && given !== '' ? given : stored);
    const fields = await checkForwardEntry(
      ctx.tx,
      nat,
      vpc,
      {
        ExternalIp: pick(params.ExternalIp, entry.data.ExternalIp),
        ExternalPort: pick(params.ExternalPort, entry.data.ExternalPort),
        InternalIp: pick(params.InternalIp, entry.data.InternalIp),
        InternalPort: pick(params.InternalPort, entry.data.InternalPort),
        IpProtocol: pick(params.IpProtocol, entry.data.IpProtocol),
      },
      entry.id,
    );
    entry.data = { ...entry.data, ...fields, ForwardEntryName: params.ForwardEntryName ?? entry.data.ForwardEntryName };
    entry.name = entry.data.ForwardEntryName;
    await ctx.tx.update(entry);
    return {};
  },
});
