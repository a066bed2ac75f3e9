import { defineAction } from '../../action.ts';
import { conflict, invalid } from '../../../core/errors.ts';
import { KIND, type ContainerGroupNetworkData, type NatGatewayData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { requireOwned } from '../../resources/common.ts';
import { beginAssociation, ECI_STATUSES_REFUSING_EIP, eipInstanceTypeOf, requireEip } from '../../resources/eip.ts';

export const AssociateEipAddress = defineAction({
  product: 'vpc',
  name: 'AssociateEipAddress',
  summary: 'Binds an Available EIP to a container group or a NAT gateway (Associating → InUse).',
  mutating: true,
  params: {
    RegionId: p.string(),
    AllocationId: p.string({ required: true }),
    InstanceId: p.string({ required: true }),
    InstanceType: p.string(),
    InstanceRegionId: p.string(),
    Mode: p.enum(['NAT']),
    PrivateIpAddress: p.string(),
    VpcId: p.string(),
  },
  async handler(ctx, params) {
    const type = eipInstanceTypeOf(params.InstanceType, params.InstanceId);
    const eip = await requireEip(ctx.tx, ctx.account, params.AllocationId, params.RegionId);
    if (type === 'EciInstance') {
      const group = await requireOwned<ContainerGroupNetworkData>(ctx.tx, KIND.containerGroup, ctx.account, params.InstanceId, 'InvalidInstanceId.NotFound', 'InstanceId');
      if (group.region !== eip.region) throw invalid('InvalidParameter.Mismatch', `The EIP ${eip.id} and the instance ${group.id} are in different regions.`);
      if (ECI_STATUSES_REFUSING_EIP.has(group.status))
        throw conflict('IncorrectInstanceStatus', `The current status of instance does not support this operation: ${group.id} is ${group.status}.`);
      if (group.data.EipAllocationId)
        throw conflict('InvalidAssociation.Duplicated', `The instance ${group.id} already has the EIP ${group.data.EipAllocationId}.`);
      await beginAssociation(ctx.tx, eip, { instanceId: group.id, instanceType: type, privateIp: group.data.IntranetIp, vpcId: group.data.VpcId, regionId: group.region });
      group.data = { ...group.data, EipAllocationId: eip.id };
      await ctx.tx.update(group);
    } else {
      // Several EIPs may bind to one NAT gateway (EipBindMode MULTI_BINDED / the SNAT/DNAT pools).
      const nat = await requireOwned<NatGatewayData>(ctx.tx, KIND.natGateway, ctx.account, params.InstanceId, 'InvalidInstanceId.NotFound', 'InstanceId');
      if (nat.region !== eip.region) throw invalid('InvalidParameter.Mismatch', `The EIP ${eip.id} and the NAT gateway ${nat.id} are in different regions.`);
      if (nat.status === 'Deleting')
        throw conflict('IncorrectInstanceStatus', `The current status of instance does not support this operation: ${nat.id} is ${nat.status}.`);
      if (nat.data.NetworkType === 'intranet')
        throw invalid('OperationDenied', `The NAT gateway ${nat.id} is a VPC (intranet) NAT gateway, which takes no EIP.`);
      await beginAssociation(ctx.tx, eip, { instanceId: nat.id, instanceType: type, privateIp: '', vpcId: nat.data.VpcId, regionId: nat.region });
    }
    return {};
  },
});
