import { defineAction } from '../../action.ts';
import { invalid } from '../../../core/errors.ts';
import { KIND, type ContainerGroupNetworkData, type NatGatewayData, type SnatEntryData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { requireVSwitchIn } from '../../resources/vpc.ts';

export const DeleteVSwitch = defineAction({
  product: 'vpc',
  name: 'DeleteVSwitch',
  summary: 'Deletes a vSwitch that no container group, NAT gateway, SNAT entry or private IP still uses.',
  mutating: true,
  params: { RegionId: p.string({ required: true }), VSwitchId: p.string({ required: true }) },
  async handler(ctx, params) {
    const vsw = await requireVSwitchIn(ctx.tx, ctx.account, params.RegionId, params.VSwitchId);
    const q = { account: ctx.account, region: vsw.region };
    const groups = await ctx.tx.list<ContainerGroupNetworkData>({ kind: KIND.containerGroup, ...q });
    const group = groups.find((g) => g.data.VSwitchId === vsw.id);
    if (group) throw invalid('DependencyViolation', `The vSwitch ${vsw.id} is used by container group ${group.id}; delete it first.`);
    const nats = await ctx.tx.list<NatGatewayData>({ kind: KIND.natGateway, ...q, parent: vsw.data.VpcId });
    const nat = nats.find((n) => n.data.VSwitchId === vsw.id);
    if (nat) throw invalid('DependencyViolation.EnhancedNatgw', `The vSwitch ${vsw.id} holds NAT gateway ${nat.id}; delete it first.`);
    const snats = await ctx.tx.list<SnatEntryData>({ kind: KIND.snatEntry, ...q });
    const snat = snats.find((s) => s.data.SourceVSwitchId === vsw.id);
    if (snat) throw invalid('DependencyViolation.SnatEntry', `The vSwitch ${vsw.id} is the source of SNAT entry ${snat.id}; delete it first.`);
    // Whatever else holds a private address here (an interface being set up) also keeps the vSwitch.
    const held = await ctx.tx.countIps(vsw.id);
    if (held > 0) throw invalid('DependencyViolation', `${held} private IP address(es) of the vSwitch ${vsw.id} are still in use.`);
    await ctx.tx.delete(KIND.vSwitch, vsw.id);
    return {};
  },
});
