// The explicit list of actions. The handler, the CLI and the typed client derive from it.
import type { AnyAction, Product } from '../action.ts';
import { eciActions } from './eci/index.ts';
import { ecsActions } from './ecs/index.ts';
import { vpcActions } from './vpc/index.ts';

export const ALL_ACTIONS: readonly AnyAction[] = [...eciActions, ...vpcActions, ...ecsActions];

/**
 * Actions of the reference SDKs that OpenECI does not implement. They answer a clear
 * `UnsupportedOperation` error instead of `InvalidAction.NotFound`.
 */
export const UNSUPPORTED: Readonly<Record<Product, readonly string[]>> = {
  eci: [
    'CommitContainer', 'CopyDataCache', 'CreateDataCache', 'CreateInstanceOpsTask', 'CreateVirtualNode',
    'DeleteDataCache', 'DeleteVirtualNode', 'DescribeAvailableResource', 'DescribeCommitContainerTask',
    'DescribeContainerGroupPrice', 'DescribeDataCaches', 'DescribeInstanceOpsRecords',
    'DescribeVirtualNodes', 'ListUsage', 'ResizeContainerGroupVolume', 'UpdateDataCache', 'UpdateVirtualNode',
  ],
  vpc: ['CreateRouteEntry', 'DeleteRouteEntry', 'DescribeRouteTables', 'CreateVpnGateway', 'CreateVpcPeerConnection', 'ModifyVpcAttribute', 'ModifyVSwitchAttribute'],
  ecs: ['RunInstances', 'CreateInstance', 'DescribeInstances', 'DeleteInstance', 'ModifySecurityGroupAttribute', 'ModifySecurityGroupEgressRule'],
};
