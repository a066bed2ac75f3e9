// The default network of an account, created on first use by CreateContainerGroup when the request names
// no vSwitch or no security group (as the reference does): per account and region a default VPC
// 172.16.0.0/12, per zone a default /20 vSwitch in it, and per VPC a default security group.
//
// Idempotent and race-free: each default has an ID derived from (account, region, zone or VPC), so
// "ensure" is one primary-key read, and two servers racing to create the same default collide on the
// unique ID instead of creating two. (The pipeline also serialises an account's mutating requests.)

import { createHash } from 'node:crypto';
import { formatCidr, overlaps, parseCidr, type Cidr } from '../../core/cidr.ts';
import { conflict } from '../../core/errors.ts';
import { newId, type IdKind, ID_PREFIXES } from '../../core/ids.ts';
import { KIND, type SecurityGroupData, type SecurityGroupRule, type VpcData, type VSwitchData } from '../../core/model.ts';
import { normalizeRule, planAuthorize } from '../../core/security-group.ts';
import type { Resource } from '../../store/store.ts';
import type { ActionContext } from '../action.ts';

export const DEFAULT_VPC_CIDR = '172.16.0.0/12';
/** Prefix of the default vSwitches: 4 096 addresses each, 256 of them fit the default VPC. */
const DEFAULT_VSWITCH_PREFIX = 20;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** An ID shaped like newId's, derived from `seed` (so the same default always has the same ID). */
function derivedId(kind: IdKind, seed: string): string {
  const digest = createHash('sha256').update(`openeci-default\0${seed}`).digest();
  let out = '';
  for (let i = 0; i < 20; i++) out += ALPHABET[digest[i] & 31];
  return `${ID_PREFIXES[kind]}-${out}`;
}

export interface DefaultNetwork {
  vpc: Resource<VpcData>;
  vSwitch: Resource<VSwitchData>;
  securityGroup: Resource<SecurityGroupData>;
}

/** The account's default VPC, default vSwitch of `zoneId` and default security group, created if missing. */
export async function ensureDefaultNetwork(ctx: ActionContext, regionId: string, zoneId: string): Promise<DefaultNetwork> {
  const vpc = await ensureDefaultVpc(ctx, regionId);
  const vSwitch = await ensureDefaultVSwitch(ctx, vpc, zoneId);
  const securityGroup = await ensureDefaultSecurityGroup(ctx, vpc);
  return { vpc, vSwitch, securityGroup };
}

async function ensureDefaultVpc(ctx: ActionContext, regionId: string): Promise<Resource<VpcData>> {
  const id = derivedId('vpc', `${ctx.account}\0${regionId}`);
  const found = await ctx.tx.get<VpcData>(KIND.vpc, id);
  if (found) return found;
  const data: VpcData = {
    VpcId: id,
    VpcName: 'default',
    Description: 'Default VPC, created by OpenECI for container groups that name no vSwitch.',
    CidrBlock: DEFAULT_VPC_CIDR,
    VRouterId: newId('vRouter', ctx.random),
    RouteTableId: newId('routeTable', ctx.random),
    IsDefault: true,
    ResourceGroupId: '',
    CreationTime: ctx.nowText,
    Tags: [],
  };
  return ctx.tx.insert({ kind: KIND.vpc, id, account: ctx.account, region: regionId, name: data.VpcName, status: 'Available', parent: '', createdAt: ctx.nowText, data });
}

/** The lowest /20 of the VPC that overlaps none of its vSwitches (the user may have added some). */
export function freeDefaultBlock(vpcCidr: Cidr, taken: readonly Cidr[]): Cidr | undefined {
  const step = 2 ** (32 - DEFAULT_VSWITCH_PREFIX);
  const count = 2 ** (DEFAULT_VSWITCH_PREFIX - vpcCidr.prefix);
  for (let i = 0; i < count; i++) {
    const candidate = { network: vpcCidr.network + i * step, prefix: DEFAULT_VSWITCH_PREFIX };
    if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  }
  return undefined;
}

async function ensureDefaultVSwitch(ctx: ActionContext, vpc: Resource<VpcData>, zoneId: string): Promise<Resource<VSwitchData>> {
  const id = derivedId('vSwitch', `${vpc.id}\0${zoneId}`);
  const found = await ctx.tx.get<VSwitchData>(KIND.vSwitch, id);
  if (found) return found;
  const taken = (await ctx.tx.list<VSwitchData>({ kind: KIND.vSwitch, parent: vpc.id })).map((v) => parseCidr(v.data.CidrBlock)!);
  const block = freeDefaultBlock(parseCidr(vpc.data.CidrBlock)!, taken);
  if (!block) throw conflict('InvalidCidrBlock.Overlapped', `The default VPC ${vpc.id} has no free /${DEFAULT_VSWITCH_PREFIX} left for a default vSwitch in ${zoneId}.`);
  const data: VSwitchData = {
    VSwitchId: id,
    VpcId: vpc.id,
    ZoneId: zoneId,
    CidrBlock: formatCidr(block),
    VSwitchName: 'default',
    Description: `Default vSwitch of ${zoneId}, created by OpenECI.`,
    IsDefault: true,
    CreationTime: ctx.nowText,
    Tags: [],
  };
  return ctx.tx.insert({ kind: KIND.vSwitch, id, account: ctx.account, region: vpc.region, name: data.VSwitchName, status: 'Available', parent: vpc.id, createdAt: ctx.nowText, data });
}

/** The ID the default security group of an account's VPC has (whether or not it exists yet). */
export const defaultSecurityGroupId = (account: string, vpcId: string): string => derivedId('securityGroup', `${account}\0${vpcId}`);

/** The default security group of a VPC (the default VPC or the user's), created if missing. */
export async function ensureDefaultSecurityGroup(ctx: ActionContext, vpc: Resource<VpcData>): Promise<Resource<SecurityGroupData>> {
  const id = defaultSecurityGroupId(ctx.account, vpc.id);
  const found = await ctx.tx.get<SecurityGroupData>(KIND.securityGroup, id);
  if (found) return found;
  const data: SecurityGroupData = {
    SecurityGroupId: id,
    SecurityGroupName: 'default',
    Description: 'Default security group, created by OpenECI for container groups that name none; it opens the ports their containers declare.',
    VpcId: vpc.id,
    SecurityGroupType: 'normal',
    ResourceGroupId: '',
    CreationTime: ctx.nowText,
    Tags: [],
    Permissions: [],
  };
  return ctx.tx.insert({ kind: KIND.securityGroup, id, account: ctx.account, region: vpc.region, name: data.SecurityGroupName, status: 'Available', parent: vpc.id, createdAt: ctx.nowText, data });
}

/**
 * Opens `ports` to any source in a default security group (the reference opens the ports a container
 * group declares when it uses the default group). A port already open is left as it is; the rules are
 * the ones AuthorizeSecurityGroup would add, with its limits.
 */
export async function openDeclaredPorts(
  ctx: ActionContext,
  sg: Resource<SecurityGroupData>,
  ports: readonly { Port: number; Protocol: 'TCP' | 'UDP' }[],
): Promise<Resource<SecurityGroupData>> {
  const specs = ports.map(({ Port, Protocol }) =>
    normalizeRule('ingress', { IpProtocol: Protocol, PortRange: `${Port}/${Port}`, SourceCidrIp: '0.0.0.0/0', Description: 'Opened for a container port.' }, { groupType: sg.data.SecurityGroupType }),
  );
  const add = planAuthorize(sg.data.Permissions, specs, { rulesPerGroup: ctx.config.quotas.rulesPerSecurityGroup });
  if (add.length === 0) return sg;
  const created = add.map((r): SecurityGroupRule => ({ ...r, SecurityGroupRuleId: newId('securityGroupRule', ctx.random), CreateTime: ctx.nowText }));
  sg.data = { ...sg.data, Permissions: [...sg.data.Permissions, ...created] };
  return ctx.tx.update(sg);
}
