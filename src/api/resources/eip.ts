// EIP rules shared by the VPC EIP actions and CreateContainerGroup (AutoCreateEip / EipInstanceId).
//
// Status machine (reference): Available → Associating → InUse → Unassociating → Available, and
// Available → Releasing → gone. Handlers move an EIP into the transitional states; the EIP controller
// (src/controllers/eip.ts) completes them once the target is ready.

import { formatIp, parseCidr, poolUsableRange } from '../../core/cidr.ts';
import { ApiError, conflict, invalid, notFound, quotaExceeded } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { KIND, PUBLIC_IP_SCOPE, SYSTEM_ACCOUNT, type EipData, type IpPoolData, type Tag } from '../../core/model.ts';
import type { Resource, Tx } from '../../store/store.ts';
import type { ActionContext } from '../action.ts';
import { requireOwned } from './common.ts';

export const requireEip = (tx: Tx, account: string, id: string): Promise<Resource<EipData>> =>
  requireOwned<EipData>(tx, KIND.eip, account, id, 'InvalidAllocationId.NotFound', 'AllocationId');

export interface AllocateEipInput {
  regionId: string;
  bandwidth: number;
  internetChargeType: 'PayByBandwidth' | 'PayByTraffic';
  isp: string;
  poolId?: string;
  ipAddress?: string;
  name?: string;
  description?: string;
  tags?: Tag[];
  autoCreatedBy?: string;
}

/** The pools an account may allocate from: its own, then the system pools. */
async function poolsFor(ctx: ActionContext, regionId: string, poolId: string | undefined, isp: string): Promise<Resource<IpPoolData>[]> {
  if (poolId) {
    const pool = await ctx.tx.get<IpPoolData>(KIND.ipPool, poolId);
    if (!pool || (pool.account !== ctx.account && pool.account !== SYSTEM_ACCOUNT))
      throw notFound('InvalidPublicIpAddressPoolId.NotFound', `The specified PublicIpAddressPoolId "${poolId}" does not exist.`);
    return [pool];
  }
  const system = await ctx.tx.list<IpPoolData>({ kind: KIND.ipPool, account: SYSTEM_ACCOUNT });
  const matching = system.filter((p) => p.data.Isp === isp);
  return matching.length ? matching : system;
}

/** Allocates an EIP (quota-checked) and records it Available. */
export async function allocateEip(ctx: ActionContext, input: AllocateEipInput): Promise<Resource<EipData>> {
  const count = await ctx.tx.count({ kind: KIND.eip, account: ctx.account, region: input.regionId });
  if (count >= ctx.config.quotas.eips) throw quotaExceeded('QuotaExceeded.Eip', 'Elastic IP address quota exceeded.');
  const id = newId('eip', ctx.random);
  let ip: number | undefined;
  let pool: Resource<IpPoolData> | undefined;
  for (const candidate of await poolsFor(ctx, input.regionId, input.poolId, input.isp)) {
    const ranges = candidate.data.CidrBlocks.map((b) => poolUsableRange(parseCidr(b.CidrBlock)!));
    const wanted = input.ipAddress !== undefined ? parseIpOrThrow(input.ipAddress) : undefined;
    ip = await ctx.tx.allocateIp(PUBLIC_IP_SCOPE, ranges, id, wanted);
    if (ip !== undefined) {
      pool = candidate;
      break;
    }
  }
  if (ip === undefined || !pool) {
    if (input.ipAddress) throw conflict('InvalidIpAddress.AlreadyAllocated', `The address ${input.ipAddress} is not free in the pool.`);
    throw new ApiError('QuotaExceeded', 'QuotaExceeded.PublicIpAddressPool', 'The public IP address pool has no free address.');
  }
  const data: EipData = {
    AllocationId: id,
    IpAddress: formatIp(ip),
    InstanceId: '',
    InstanceType: '',
    InstanceRegionId: '',
    PrivateIpAddress: '',
    VpcId: '',
    Bandwidth: input.bandwidth,
    InternetChargeType: input.internetChargeType,
    InstanceChargeType: 'PostPaid',
    ISP: input.isp,
    Name: input.name ?? '',
    Description: input.description ?? '',
    BandwidthPackageId: '',
    BandwidthPackageBandwidth: '',
    PublicIpAddressPoolId: pool.account === SYSTEM_ACCOUNT ? '' : pool.id,
    AllocationTime: ctx.nowText,
    Mode: 'NAT',
    AutoCreatedBy: input.autoCreatedBy ?? '',
    Tags: input.tags ?? [],
  };
  return ctx.tx.insert({ kind: KIND.eip, id, account: ctx.account, region: input.regionId, name: data.Name, status: 'Available', parent: '', createdAt: ctx.nowText, data });
}

function parseIpOrThrow(text: string): number {
  const c = parseCidr(`${text}/32`);
  if (!c) throw invalid('InvalidIpAddress.Malformed', `The specified IpAddress "${text}" is malformed.`);
  return c.network;
}

/** Starts binding an Available EIP to a target; the controller completes it (→ InUse). */
export async function beginAssociation(
  tx: Tx,
  eip: Resource<EipData>,
  target: { instanceId: string; instanceType: 'EciInstance' | 'Nat'; privateIp: string; vpcId: string; regionId: string },
): Promise<Resource<EipData>> {
  if (eip.status !== 'Available') throw conflict('IncorrectEipStatus', 'Current elastic IP status does not support this operation.');
  eip.status = 'Associating';
  eip.data = {
    ...eip.data,
    InstanceId: target.instanceId,
    InstanceType: target.instanceType,
    PrivateIpAddress: target.privateIp,
    VpcId: target.vpcId,
    InstanceRegionId: target.regionId,
  };
  return tx.update(eip);
}

/** Starts unbinding an InUse (or still Associating) EIP; the controller completes it (→ Available). */
export async function beginUnassociation(tx: Tx, eip: Resource<EipData>): Promise<Resource<EipData>> {
  if (eip.status !== 'InUse' && eip.status !== 'Associating')
    throw conflict('IncorrectEipStatus', 'Current elastic IP status does not support this operation.');
  eip.status = 'Unassociating';
  return tx.update(eip);
}

/** Releases an Available EIP now: the row and its address go in the same transaction. */
export async function releaseEip(tx: Tx, eip: Resource<EipData>): Promise<void> {
  if (eip.status !== 'Available') throw conflict('IncorrectEipStatus', 'Current elastic IP status does not support this operation.');
  if (eip.data.BandwidthPackageId)
    throw conflict('OperationFailed.EipInCbwp', `The EIP ${eip.id} is in bandwidth package ${eip.data.BandwidthPackageId}; remove it first.`);
  await tx.releaseIp(PUBLIC_IP_SCOPE, ipOf(eip));
  await tx.delete(KIND.eip, eip.id);
}

export function ipOf(eip: Resource<EipData>): number {
  return parseCidr(`${eip.data.IpAddress}/32`)!.network;
}
