// EIP rules shared by the VPC EIP actions, CreateContainerGroup (AutoCreateEip / EipInstanceId) and the
// EIP controller.
//
// Status machine (reference): Available → Associating → InUse → Unassociating → Available, and
// Available → gone on release. Handlers move an EIP into the transitional states; the EIP controller
// (src/controllers/eip.ts) completes them once the target is ready.

import { formatIp, parseCidr, parseIp, poolUsableRange } from '../../core/cidr.ts';
import { ApiError, conflict, invalid, invalidParameter, notFound, quotaExceeded } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { KIND, PUBLIC_IP_SCOPE, SYSTEM_ACCOUNT, type EipData, type IpPoolData, type Tag } from '../../core/model.ts';
import type { Resource, Tx } from '../../store/store.ts';
import type { ActionContext } from '../action.ts';
import { requireOwned } from './common.ts';
import { poolNotFound } from './vpc.ts';

/** The account's EIP; with `region`, an EIP of another region is as absent as another account's. */
export async function requireEip(tx: Tx, account: string, id: string, region?: string): Promise<Resource<EipData>> {
  const eip = await requireOwned<EipData>(tx, KIND.eip, account, id, 'InvalidAllocationId.NotFound', 'AllocationId');
  if (region && eip.region !== region) throw notFound('InvalidAllocationId.NotFound', `The specified AllocationId "${id}" does not exist in the region ${region}.`);
  return eip;
}

/** The instance types an EIP binds to in OpenECI (the reference has more: EcsInstance, SlbInstance, …). */
export const EIP_INSTANCE_TYPES = ['EciInstance', 'Nat'] as const;
export type EipInstanceType = (typeof EIP_INSTANCE_TYPES)[number];

export const DEFAULT_EIP_BANDWIDTH = 5;

/** Upper bandwidth limit in Mbit/s per charge type (pay-as-you-go; the reference allows 1–1000 prepaid). */
export const EIP_BANDWIDTH_MAX: Readonly<Record<EipData['InternetChargeType'], number>> = { PayByTraffic: 200, PayByBandwidth: 500 };

/**
 * Parses and range-checks an EIP bandwidth (whole Mbit/s, 1..max of the charge type). Throws the
 * reference's InvalidParameter "Specified value of "Bandwidth" is not valid." otherwise.
 */
export function checkEipBandwidth(value: string | number, chargeType: EipData['InternetChargeType'], name = 'Bandwidth'): number {
  const text = String(value).trim();
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  const max = EIP_BANDWIDTH_MAX[chargeType];
  if (!(n >= 1 && n <= max)) throw invalidParameter(name, `Use a whole number of Mbit/s from 1 to ${max} for ${chargeType}.`);
  return n;
}

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
  resourceGroupId?: string;
  autoCreatedBy?: string;
}

/** The pools an account may allocate from: the one named, else the system pools of the ISP (any, if none matches). */
async function poolsFor(ctx: ActionContext, regionId: string, poolId: string | undefined, isp: string): Promise<Resource<IpPoolData>[]> {
  if (poolId) {
    const pool = await ctx.tx.get<IpPoolData>(KIND.ipPool, poolId);
    if (!pool || (pool.account !== ctx.account && pool.account !== SYSTEM_ACCOUNT) || (pool.region !== '*' && pool.region !== regionId))
      throw poolNotFound(poolId);
    return [pool];
  }
  const system = await ctx.tx.list<IpPoolData>({ kind: KIND.ipPool, account: SYSTEM_ACCOUNT });
  const matching = system.filter((p) => p.data.Isp === isp);
  return matching.length ? matching : system;
}

/**
 * Allocates an EIP (quota-checked) and records it Available. The address comes from IPAM scope
 * `public`, so no address is ever held by two EIPs, whatever pool they came from.
 */
export async function allocateEip(ctx: ActionContext, input: AllocateEipInput): Promise<Resource<EipData>> {
  const count = await ctx.tx.count({ kind: KIND.eip, account: ctx.account, region: input.regionId });
  if (count >= ctx.config.quotas.eips) throw quotaExceeded('QuotaExceeded.Eip', 'Elastic IP address quota exceeded.');
  const wanted = input.ipAddress !== undefined ? parseIpOrThrow(input.ipAddress) : undefined;
  const id = newId('eip', ctx.random);
  let ip: number | undefined;
  let pool: Resource<IpPoolData> | undefined;
  let inSomePool = false;
  for (const candidate of await poolsFor(ctx, input.regionId, input.poolId, input.isp)) {
    const ranges = candidate.data.CidrBlocks.map((b) => poolUsableRange(parseCidr(b.CidrBlock)!));
    if (wanted !== undefined && ranges.some((r) => wanted >= r.first && wanted <= r.last)) inSomePool = true;
    ip = await ctx.tx.allocateIp(PUBLIC_IP_SCOPE, ranges, id, wanted);
    if (ip !== undefined) {
      pool = candidate;
      break;
    }
  }
  if (ip === undefined || !pool) {
    if (input.ipAddress !== undefined && !inSomePool)
      throw invalid('InvalidIpAddress.NotInPool', `The address ${input.ipAddress} is not in the usable range of the public IP address pool.`);
    if (input.ipAddress !== undefined) throw conflict('InvalidIpAddress.AlreadyAllocated', `The address ${input.ipAddress} is already allocated.`);
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
    ISP: input.poolId ? pool.data.Isp : input.isp,
    Name: input.name ?? '',
    Description: input.description ?? '',
    BandwidthPackageId: '',
    BandwidthPackageBandwidth: '',
    PublicIpAddressPoolId: pool.account === SYSTEM_ACCOUNT ? '' : pool.id,
    AllocationTime: ctx.nowText,
    Mode: 'NAT',
    AutoCreatedBy: input.autoCreatedBy ?? '',
    Tags: input.tags ?? [],
    ResourceGroupId: input.resourceGroupId ?? '',
  };
  return ctx.tx.insert({ kind: KIND.eip, id, account: ctx.account, region: input.regionId, name: data.Name, status: 'Available', parent: '', createdAt: ctx.nowText, data });
}

function parseIpOrThrow(text: string): number {
  const ip = parseIp(text);
  if (ip === undefined) throw invalid('InvalidIpAddress.Malformed', `The specified IpAddress "${text}" is malformed.`);
  return ip;
}

/** Starts binding an Available EIP to a target; the controller completes it (→ InUse). */
export async function beginAssociation(
  tx: Tx,
  eip: Resource<EipData>,
  target: { instanceId: string; instanceType: EipInstanceType; privateIp: string; vpcId: string; regionId: string },
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

/** The EIP's data with its binding cleared, as an Available EIP carries it. */
export function unboundData(data: EipData): EipData {
  return { ...data, InstanceId: '', InstanceType: '', InstanceRegionId: '', PrivateIpAddress: '', VpcId: '' };
}

/** Releases an Available EIP now: the row and its address go in the same transaction. */
export async function releaseEip(tx: Tx, eip: Resource<EipData>): Promise<void> {
  if (eip.status !== 'Available') throw conflict('IncorrectEipStatus', 'Current elastic IP status does not support this operation.');
  if (eip.data.BandwidthPackageId)
    throw conflict('OperationFailed.EipInCbwp', `The EIP ${eip.id} is in bandwidth package ${eip.data.BandwidthPackageId}; remove it first.`);
  await forgetEip(tx, eip);
}

/** Deletes the row and frees its address, whatever the status (the controller's release of orphans). */
export async function forgetEip(tx: Tx, eip: Resource<EipData>): Promise<void> {
  await tx.releaseIp(PUBLIC_IP_SCOPE, ipOf(eip));
  await tx.delete(KIND.eip, eip.id);
}

export function ipOf(eip: Resource<EipData>): number {
  return parseIp(eip.data.IpAddress)!;
}

/**
 * The instance type of an Associate/Unassociate request. The reference defaults to EcsInstance, which
 * OpenECI has not; without a type the ID's prefix decides (`eci-` → EciInstance, `ngw-` → Nat).
 */
export function eipInstanceTypeOf(given: string | undefined, instanceId: string): EipInstanceType {
  const type = given || (instanceId.startsWith('eci-') ? 'EciInstance' : instanceId.startsWith('ngw-') ? 'Nat' : 'EcsInstance');
  const hit = EIP_INSTANCE_TYPES.find((t) => t === type);
  if (!hit)
    throw invalid('InvalidInstanceType.ValueNotSupported', `The specified value of InstanceType "${type}" is not supported: OpenECI binds EIPs to EciInstance and Nat.`);
  return hit;
}

/** Container group statuses in which an instance can no longer take an EIP (final or on its way out). */
export const ECI_STATUSES_REFUSING_EIP: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Expired', 'Terminating', 'ScheduleFailed']);

/** Container group statuses of an instance placed on a host with its network up: its EIP can go InUse. */
export const ECI_STATUSES_TAKING_EIP: ReadonlySet<string> = new Set(['Pending', 'Running', 'Restarting', 'Updating']);
