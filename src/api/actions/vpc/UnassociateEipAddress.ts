import { defineAction } from '../../action.ts';
import { conflict, notFound } from '../../../core/errors.ts';
import { KIND, type NatGatewayData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { beginUnassociation, eipInstanceTypeOf, requireEip } from '../../resources/eip.ts';
import { entriesUsingAddress } from '../../resources/nat.ts';

export const UnassociateEipAddress = defineAction({
  product: 'vpc',
  name: 'UnassociateEipAddress',
  summary: 'Unbinds an EIP from its container group or NAT gateway (Unassociating → Available).',
  mutating: true,
  params: {
    RegionId: p.string(),
    AllocationId: p.string({ required: true }),
    InstanceId: p.string(),
    InstanceType: p.string(),
    PrivateIpAddress: p.string(),
    Force: p.bool({ default: false }),
  },
  async handler(ctx, params) {
    const eip = await requireEip(ctx.tx, ctx.account, params.AllocationId, params.RegionId);
    if (eip.status !== 'InUse' && eip.status !== 'Associating')
      throw conflict('IncorrectEipStatus', 'Current elastic IP status does not support this operation.');
    if (params.InstanceId) {
      const type = eipInstanceTypeOf(params.InstanceType, params.InstanceId);
      if (params.InstanceId !== eip.data.InstanceId || type !== eip.data.InstanceType)
        throw notFound('InvalidInstanceId.NotFound', `The EIP ${eip.id} is not bound to the ${type} "${params.InstanceId}".`);
    } else if (params.InstanceType && params.InstanceType !== eip.data.InstanceType) {
      throw notFound('InvalidInstanceId.NotFound', `The EIP ${eip.id} is not bound to an instance of type ${params.InstanceType}.`);
    }
    if (eip.data.InstanceType === 'Nat') {
      // SNAT/DNAT entries of this NAT that use the address keep it bound unless Force removes them too.
      const nat = await ctx.tx.get<NatGatewayData>(KIND.natGateway, eip.data.InstanceId);
      const { snat: snats, dnat: dnats } = nat ? await entriesUsingAddress(ctx.tx, nat, eip.data.IpAddress) : { snat: [], dnat: [] };
      const address = eip.data.IpAddress;
      if (!params.Force && snats.length)
        throw conflict('InvalidIpStatus.HasBeenUsedBySnatTable', `The EIP ${address} is used by the SNAT entry ${snats[0].id}; delete it first or set Force=true.`);
      if (!params.Force && dnats.length)
        throw conflict('InvalidIpStatus.HasBeenUsedByForwardEntry', `The EIP ${address} is used by the DNAT entry ${dnats[0].id}; delete it first or set Force=true.`);
      // Force: an SNAT entry that also uses other addresses keeps them; entries left with none go.
      for (const e of snats) {
        const rest = e.data.SnatIp.split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== address);
        if (rest.length === 0) await ctx.tx.delete(e.kind, e.id);
        else {
          e.data = { ...e.data, SnatIp: rest.join(',') };
          await ctx.tx.update(e);
        }
      }
      for (const e of dnats) await ctx.tx.delete(e.kind, e.id);
    }
    await beginUnassociation(ctx.tx, eip);
    return {};
  },
});
