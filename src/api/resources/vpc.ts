// VPC and vSwitch rules shared by several actions.

import { containsCidr, overlaps, parseCidr, parseIp, PRIVATE_RANGES, type Cidr } from '../../core/cidr.ts';
import { invalid } from '../../core/errors.ts';
import { KIND, type VpcData, type VSwitchData } from '../../core/model.ts';
import type { Resource, Tx } from '../../store/store.ts';
import { requireOwned } from './common.ts';
// Used by the vSwitch and public IP address pool helpers below.
import { lastAddress, poolUsableRange, vSwitchUsableRange } from '../../core/cidr.ts';
import { ApiError, notFound } from '../../core/errors.ts';
import type { EipData, IpPoolData } from '../../core/model.ts';
import type { ActionContext } from '../action.ts';
import { wrappedTags } from './common.ts';

export const requireVpc = (tx: Tx, account: string, id: string): Promise<Resource<VpcData>> =>
  requireOwned<VpcData>(tx, KIND.vpc, account, id, 'InvalidVpcId.NotFound', 'VpcId');

export const requireVSwitch = (tx: Tx, account: string, id: string): Promise<Resource<VSwitchData>> =>
  requireOwned<VSwitchData>(tx, KIND.vSwitch, account, id, 'InvalidVSwitchId.NotFound', 'VSwitchId');

/** A VPC CIDR: a private range, prefix /8 to /28, host bits clear. */
export function parseVpcCidr(text: string): Cidr {
  const c = parseCidr(text);
  if (!c || c.prefix < 8 || c.prefix > 28 || !PRIVATE_RANGES.some((r) => containsCidr(r, c)))
    throw invalid('InvalidCidrBlock.Malformed', `The specified CidrBlock "${text}" is malformed: use a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) with a prefix from /8 to /28.`);
  return c;
}

/** A vSwitch CIDR must lie inside its VPC and overlap no other vSwitch of that VPC. */
export async function checkVSwitchCidr(tx: Tx, vpc: Resource<VpcData>, text: string): Promise<Cidr> {
  const c = parseCidr(text);
  if (!c || c.prefix < 16 || c.prefix > 29)
    throw invalid('InvalidCidrBlock.Malformed', `The specified CidrBlock "${text}" is malformed: a vSwitch takes a prefix from /16 to /29.`);
  const vpcCidr = parseCidr(vpc.data.CidrBlock)!;
  if (!containsCidr(vpcCidr, c))
    throw invalid('InvalidCidrBlock.Mismatch', `The vSwitch CIDR ${text} is not inside the VPC CIDR ${vpc.data.CidrBlock}.`);
  for (const other of await tx.list<VSwitchData>({ kind: KIND.vSwitch, parent: vpc.id })) {
    if (overlaps(parseCidr(other.data.CidrBlock)!, c))
      throw invalid('InvalidCidrBlock.Overlapped', `The vSwitch CIDR ${text} overlaps ${other.data.CidrBlock} of ${other.id}.`);
  }
  return c;
}

export function requireIp(text: string, code: string, name: string): number {
  const ip = parseIp(text);
  if (ip === undefined) throw invalid(code, `The specified ${name} "${text}" is not a valid IPv4 address.`);
  return ip;
}

// ---------------------------------------------------------------------------------------------------
// vSwitches and zones.

/** The account's VPC in this region; a VPC of another region is as absent as another account's. */
export async function requireVpcIn(tx: Tx, account: string, region: string, id: string): Promise<Resource<VpcData>> {
  const vpc = await requireVpc(tx, account, id);
  if (vpc.region !== region) throw notFound('InvalidVpcId.NotFound', `The specified VpcId "${id}" does not exist.`);
  return vpc;
}

/** The account's vSwitch in this region (InvalidVSwitchId.NotFound otherwise). */
export async function requireVSwitchIn(tx: Tx, account: string, region: string, id: string): Promise<Resource<VSwitchData>> {
  const vsw = await requireVSwitch(tx, account, id);
  if (vsw.region !== region) throw notFound('InvalidVSwitchId.NotFound', `The specified VSwitchId "${id}" does not exist.`);
  return vsw;
}

/** The zones configured for a region ([] for an unknown region). */
export function zonesOf(ctx: Pick<ActionContext, 'config'>, regionId: string): readonly string[] {
  return ctx.config.regions.find((r) => r.regionId === regionId)?.zones ?? [];
}

/**
 * Free private addresses of a vSwitch: its IPAM range (the reference reserves the first and the last
 * three addresses; OpenECI's router takes the second as gateway) minus the addresses allocated in the
 * vSwitch's IPAM scope (container groups, NAT gateways).
 */
export async function availableIpCount(tx: Tx, vsw: Resource<VSwitchData>): Promise<number> {
  const range = vSwitchUsableRange(parseCidr(vsw.data.CidrBlock)!);
  const size = Math.max(0, range.last - range.first + 1);
  return Math.max(0, size - (await tx.countIps(vsw.id)));
}

/** A vSwitch as DescribeVSwitches and DescribeVSwitchAttributes present it; it shares its VPC's route table and resource group. */
export async function vSwitchView(tx: Tx, vsw: Resource<VSwitchData>, vpc: VpcData | undefined): Promise<Record<string, unknown>> {
  return {
    VSwitchId: vsw.id,
    VpcId: vsw.data.VpcId,
    Status: vsw.status,
    CidrBlock: vsw.data.CidrBlock,
    ZoneId: vsw.data.ZoneId,
    AvailableIpAddressCount: await availableIpCount(tx, vsw),
    Description: vsw.data.Description,
    VSwitchName: vsw.data.VSwitchName,
    CreationTime: vsw.data.CreationTime,
    IsDefault: vsw.data.IsDefault,
    ResourceGroupId: vpc?.ResourceGroupId ?? '',
    Ipv6CidrBlock: '',
    EnabledIpv6: false,
    NetworkAclId: '',
    ShareType: 'Sharing',
    RouteTable: { RouteTableId: vpc?.RouteTableId ?? '', RouteTableType: 'System' },
    Tags: wrappedTags(vsw.data.Tags),
  };
}

// ---------------------------------------------------------------------------------------------------
// Public IP address pools. A pool's blocks are unique on the whole installation (system pools
// included), as public addresses are; its EIPs carry data.PublicIpAddressPoolId.

/** What OpenECI keeps of a pool beyond IpPoolData: the resource group it was created in. */
export type IpPoolRecord = IpPoolData & { ResourceGroupId?: string };

/** The reference answers an unknown or foreign pool with this code and HTTP 400. */
export const poolNotFound = (id: string): ApiError =>
  new ApiError('NotFound', 'ResourceNotFound.PublicIpAddressPool', `The specified resource of PublicIpAddressPool "${id}" is not found.`, 400);

/** The account's own pool in this region (system pools are not the account's to manage). */
export async function requireIpPool(tx: Tx, account: string, region: string, id: string): Promise<Resource<IpPoolRecord>> {
  const pool = id ? await tx.get<IpPoolRecord>(KIND.ipPool, id) : undefined;
  if (!pool || pool.account !== account || pool.region !== region) throw poolNotFound(id);
  return pool;
}

/** The EIPs allocated from a pool; only the pool's owner allocates from it, in its region. */
export async function eipsOfPool(tx: Tx, pool: Resource<IpPoolData>): Promise<Resource<EipData>[]> {
  const eips = await tx.list<EipData>({ kind: KIND.eip, account: pool.account, region: pool.region });
  return eips.filter((e) => e.data.PublicIpAddressPoolId === pool.id);
}

export interface BlockUsage {
  readonly total: number;
  readonly used: number;
}

/** Usable and used addresses of one pool block, given the addresses of the pool's EIPs. */
export function blockUsage(block: string, eipIps: readonly number[]): BlockUsage {
  const c = parseCidr(block)!;
  const range = poolUsableRange(c);
  const used = eipIps.filter((ip) => ip >= c.network && ip <= lastAddress(c)).length;
  return { total: range.last - range.first + 1, used };
}
