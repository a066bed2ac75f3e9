import { defineAction } from '../../action.ts';
import { quotaExceeded } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { KIND, type ForwardEntryData, type VpcData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { checkForwardEntry, forwardEntriesOf, NAT_NAME, NAT_NAME_CODE, requireForwardTable } from '../../resources/nat.ts';

export const CreateForwardEntry = defineAction({
  product: 'vpc',
  name: 'CreateForwardEntry',
  summary: 'Adds a DNAT entry: a protocol and port (range) of a NAT gateway EIP forwarded to an address in the VPC, or the whole EIP mapped (IpProtocol Any).',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ForwardTableId: p.string({ required: true }),
    ExternalIp: p.string({ required: true }),
    ExternalPort: p.string({ required: true }),
    InternalIp: p.string({ required: true }),
    InternalPort: p.string({ required: true }),
    IpProtocol: p.string({ required: true }),
    ForwardEntryName: p.string({ pattern: NAT_NAME, code: NAT_NAME_CODE, hint: '2-128 characters starting with a letter, not http:// or https://' }),
    // Accepted and ignored: the data plane's SNAT must leave the ports that DNAT entries of the same EIP
    // forward alone (its contract), so there is nothing to opt into.
    PortBreak: p.bool(),
  },
  async handler(ctx, params) {
    const nat = await requireForwardTable(ctx.tx, ctx.account, params.RegionId, params.ForwardTableId);
    const vpc = (await ctx.tx.get<VpcData>(KIND.vpc, nat.data.VpcId))!;
    const fields = await checkForwardEntry(ctx.tx, nat, vpc, params);
    const count = (await forwardEntriesOf(ctx.tx, nat)).length;
    if (count >= ctx.config.quotas.forwardEntriesPerTable)
      throw quotaExceeded('QuotaExceeded', `Forward entry quota exceeded: the table ${nat.data.ForwardTableId} holds its maximum of ${ctx.config.quotas.forwardEntriesPerTable} entries.`);
    const id = newId('forwardEntry', ctx.random);
    const data: ForwardEntryData = {
      ForwardEntryId: id,
      ForwardTableId: nat.data.ForwardTableId,
      NatGatewayId: nat.id,
      ...fields,
      ForwardEntryName: params.ForwardEntryName ?? '',
    };
    await ctx.tx.insert({ kind: KIND.forwardEntry, id, account: ctx.account, region: nat.region, name: data.ForwardEntryName, status: 'Available', parent: nat.id, createdAt: ctx.nowText, data });
    return { ForwardEntryId: id };
  },
});
