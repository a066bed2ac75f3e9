// VPC and vSwitch rules shared by several actions.

import { containsCidr, overlaps, parseCidr, parseIp, PRIVATE_RANGES, type Cidr } from '../../core/cidr.ts';
import { invalid } from '../../core/errors.ts';
import { KIND, type VpcData, type VSwitchData } from '../../core/model.ts';
import type { Resource, Tx } from '../../store/store.ts';
import { requireOwned } from './common.ts';

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
