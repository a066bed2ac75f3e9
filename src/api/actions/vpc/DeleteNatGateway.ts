import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { KIND } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { beginUnassociation } from '../../resources/eip.ts';
import { forwardEntriesOf, natEips, requireNatGateway, snatEntriesOf } from '../../resources/nat.ts';

export const DeleteNatGateway = defineAction({
  product: 'vpc',
  name: 'DeleteNatGateway',
  summary: 'Deletes a NAT gateway; with Force also its SNAT/DNAT entries, and unbinds its EIPs.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    NatGatewayId: p.string({ required: true }),
    Force: p.bool({ default: false }),
  },
  async handler(ctx, params) {
    const nat = await requireNatGateway(ctx.tx, ctx.account, params.NatGatewayId);
    const snat = await snatEntriesOf(ctx.tx, nat);
    const dnat = await forwardEntriesOf(ctx.tx, nat);
    const eips = await natEips(ctx.tx, nat);
    if (!params.Force) {
      if (snat.length)
        throw invalid('DependencyViolation.SnatEntry', `The NAT gateway ${nat.id} still has ${snat.length} SNAT entr${snat.length === 1 ? 'y' : 'ies'}; delete them first or pass Force=true.`);
      if (dnat.length)
        throw invalid('DependencyViolation.ForwardEntry', `The NAT gateway ${nat.id} still has ${dnat.length} DNAT entr${dnat.length === 1 ? 'y' : 'ies'}; delete them first or pass Force=true.`);
      if (eips.length)
        throw invalid('DependencyViolation.Eip', `The NAT gateway ${nat.id} still has bound EIPs (${eips.map((e) => e.id).join(', ')}); unassociate them first or pass Force=true.`);
    }
    for (const e of snat) await ctx.tx.delete(KIND.snatEntry, e.id);
    for (const e of dnat) await ctx.tx.delete(KIND.forwardEntry, e.id);
    // The EIPs take the ordinary way out (Unassociating, then Available by the EIP controller), so the
    // data plane removes their NAT rules before an address can be bound elsewhere.
    for (const eip of eips) await beginUnassociation(ctx.tx, eip);
    await ctx.tx.delete(KIND.natGateway, nat.id);
    return {};
  },
});
