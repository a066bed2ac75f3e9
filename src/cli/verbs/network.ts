// `eci vpc`, `eci vswitch`, `eci sg`: the private network a container group lives in.
// (`eci vpc CreateVpc …`, an UpperCamel word, is the raw action instead; see main.ts.)

import { intFlag, parseVerbArgs } from '../args.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT_OK } from '../errors.ts';
import { renderTable } from '../output.ts';
import { group, listAllByPage, positionalArgs, type Verb } from './verb.ts';

/** Deletes each id with `action`, printing it; stops at the first failure. */
async function removeAll(ctx: CliContext, command: string, ids: readonly string[], product: 'vpc' | 'ecs', action: string, idParam: string): Promise<number> {
  if (ids.length === 0) throw new CliError(`eci ${command}: expected one or more ids`);
  for (const id of ids) {
    await ctx.client().call(product, action, { [idParam]: id });
    ctx.io.out(id);
  }
  return EXIT_OK;
}

// ---- VPCs ---------------------------------------------------------------------------------------

interface VpcRow {
  VpcId: string;
  VpcName?: string;
  CidrBlock?: string;
  Status?: string;
  IsDefault?: boolean;
  VSwitchIds?: { VSwitchId?: string[] };
  CreationTime?: string;
}

const vpcLs: Verb = {
  name: 'ls',
  summary: 'list VPCs',
  help: `ls [--json]                  list VPCs: ID, NAME, CIDR, STATUS, DEFAULT, VSWITCHES, CREATED`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('vpc ls', argv, { json: { type: 'boolean' } });
    positionalArgs('vpc ls', positionals, []);
    const vpcs = await listAllByPage<VpcRow>(ctx, 'vpc', 'DescribeVpcs', {}, 50, (r) => r.Vpcs?.Vpc, (v) => v.VpcId);
    if (values.json) {
      ctx.io.out(JSON.stringify(vpcs, null, 2));
      return EXIT_OK;
    }
    ctx.io.out(
      renderTable(vpcs, [
        { header: 'ID', get: (v) => v.VpcId },
        { header: 'NAME', get: (v) => v.VpcName },
        { header: 'CIDR', get: (v) => v.CidrBlock },
        { header: 'STATUS', get: (v) => v.Status },
        { header: 'DEFAULT', get: (v) => (v.IsDefault ? 'yes' : '') },
        { header: 'VSWITCHES', get: (v) => v.VSwitchIds?.VSwitchId?.length ?? 0 },
        { header: 'CREATED', get: (v) => v.CreationTime },
      ]),
    );
    return EXIT_OK;
  },
};

const vpcCreate: Verb = {
  name: 'create',
  summary: 'create a VPC',
  help: `create CIDR [--name NAME]    create a VPC (CreateVpc) with a private CIDR such as 192.168.0.0/16; prints its id`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('vpc create', argv, { name: { type: 'string' }, description: { type: 'string' } });
    const [cidr] = positionalArgs('vpc create', positionals, ['CIDR']);
    const r = await ctx.client().call('vpc', 'CreateVpc', { CidrBlock: cidr, VpcName: values.name, Description: values.description });
    ctx.io.out(String(r.VpcId));
    return EXIT_OK;
  },
};

const vpcRm: Verb = {
  name: 'rm',
  summary: 'delete VPCs',
  help: `rm VPC…                      delete VPCs (DeleteVpc); a VPC must be empty first`,
  async run(ctx, argv) {
    const { positionals } = parseVerbArgs('vpc rm', argv, {});
    return removeAll(ctx, 'vpc rm', positionals, 'vpc', 'DeleteVpc', 'VpcId');
  },
};

export const vpcVerb: Verb = group('vpc', 'VPCs: ls, create, rm', 'eci vpc <command>   VPCs (raw actions: eci vpc <Action>, see `eci vpc --help`)', [vpcLs, vpcCreate, vpcRm]);

// ---- vSwitches ----------------------------------------------------------------------------------

interface VSwitchRow {
  VSwitchId: string;
  VSwitchName?: string;
  VpcId?: string;
  ZoneId?: string;
  CidrBlock?: string;
  Status?: string;
  AvailableIpAddressCount?: number;
  CreationTime?: string;
}

const vswLs: Verb = {
  name: 'ls',
  summary: 'list vSwitches',
  help: `ls [--vpc VPC] [--json]      list vSwitches: ID, NAME, VPC, ZONE, CIDR, STATUS, FREE (addresses), CREATED`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('vswitch ls', argv, { vpc: { type: 'string' }, json: { type: 'boolean' } });
    positionalArgs('vswitch ls', positionals, []);
    const rows = await listAllByPage<VSwitchRow>(ctx, 'vpc', 'DescribeVSwitches', { VpcId: values.vpc }, 50, (r) => r.VSwitches?.VSwitch, (v) => v.VSwitchId);
    if (values.json) {
      ctx.io.out(JSON.stringify(rows, null, 2));
      return EXIT_OK;
    }
    ctx.io.out(
      renderTable(rows, [
        { header: 'ID', get: (v) => v.VSwitchId },
        { header: 'NAME', get: (v) => v.VSwitchName },
        { header: 'VPC', get: (v) => v.VpcId },
        { header: 'ZONE', get: (v) => v.ZoneId },
        { header: 'CIDR', get: (v) => v.CidrBlock },
        { header: 'STATUS', get: (v) => v.Status },
        { header: 'FREE', get: (v) => v.AvailableIpAddressCount },
        { header: 'CREATED', get: (v) => v.CreationTime },
      ]),
    );
    return EXIT_OK;
  },
};

/** The configured region's first zone, from DescribeRegions. */
async function firstZone(ctx: CliContext): Promise<string> {
  const r = await ctx.client().call('eci', 'DescribeRegions', { RegionId: ctx.config.regionId });
  const zone = r.Regions?.find((x: { RegionId?: string }) => x.RegionId === ctx.config.regionId)?.Zones?.[0];
  if (typeof zone !== 'string') throw new CliError(`the region ${ctx.config.regionId} lists no zones; give --zone`);
  return zone;
}

const vswCreate: Verb = {
  name: 'create',
  summary: 'create a vSwitch',
  help: `create VPC CIDR [--zone Z] [--name NAME]   create a vSwitch in a VPC (CreateVSwitch); --zone defaults to the region's first zone`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('vswitch create', argv, { zone: { type: 'string' }, name: { type: 'string' }, description: { type: 'string' } });
    const [vpc, cidr] = positionalArgs('vswitch create', positionals, ['VPC', 'CIDR']);
    const zone = values.zone ?? (await firstZone(ctx));
    const r = await ctx.client().call('vpc', 'CreateVSwitch', { VpcId: vpc, CidrBlock: cidr, ZoneId: zone, VSwitchName: values.name, Description: values.description });
    ctx.io.out(String(r.VSwitchId));
    return EXIT_OK;
  },
};

const vswRm: Verb = {
  name: 'rm',
  summary: 'delete vSwitches',
  help: `rm VSWITCH…                  delete vSwitches (DeleteVSwitch)`,
  async run(ctx, argv) {
    const { positionals } = parseVerbArgs('vswitch rm', argv, {});
    return removeAll(ctx, 'vswitch rm', positionals, 'vpc', 'DeleteVSwitch', 'VSwitchId');
  },
};

export const vswitchVerb: Verb = group('vswitch', 'vSwitches (subnets): ls, create, rm', 'eci vswitch <command>   vSwitches, the subnets of a VPC', [vswLs, vswCreate, vswRm]);

// ---- Security groups ----------------------------------------------------------------------------

interface SecurityGroupRow {
  SecurityGroupId: string;
  SecurityGroupName?: string;
  VpcId?: string;
  SecurityGroupType?: string;
  Description?: string;
  CreationTime?: string;
}

/** `80`, `80/tcp`, `8000-8080/tcp`, `53/udp`, `icmp`, `all` → an ECS permission's protocol and port range. */
export function sgPort(text: string): { IpProtocol: string; PortRange: string } {
  const t = text.trim().toLowerCase();
  if (t === 'icmp' || t === 'all' || t === 'gre') return { IpProtocol: t.toUpperCase(), PortRange: '-1/-1' };
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp))?$/.exec(t);
  const from = m ? Number(m[1]) : NaN;
  const to = m?.[2] !== undefined ? Number(m[2]) : from;
  if (!m || from < 1 || to > 65535 || to < from)
    throw new CliError(`--port expects PORT[-PORT][/tcp|udp], icmp or all (e.g. 80/tcp, 8000-8080/tcp, 53/udp), not "${text}"`);
  return { IpProtocol: (m[3] ?? 'tcp').toUpperCase(), PortRange: `${from}/${to}` };
}

const sgLs: Verb = {
  name: 'ls',
  summary: 'list security groups',
  help: `ls [--vpc VPC] [--json]      list security groups: ID, NAME, VPC, TYPE, CREATED`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('sg ls', argv, { vpc: { type: 'string' }, json: { type: 'boolean' } });
    positionalArgs('sg ls', positionals, []);
    const rows = await listAllByPage<SecurityGroupRow>(ctx, 'ecs', 'DescribeSecurityGroups', { VpcId: values.vpc }, 50, (r) => r.SecurityGroups?.SecurityGroup, (g) => g.SecurityGroupId);
    if (values.json) {
      ctx.io.out(JSON.stringify(rows, null, 2));
      return EXIT_OK;
    }
    ctx.io.out(
      renderTable(rows, [
        { header: 'ID', get: (g) => g.SecurityGroupId },
        { header: 'NAME', get: (g) => g.SecurityGroupName },
        { header: 'VPC', get: (g) => g.VpcId },
        { header: 'TYPE', get: (g) => g.SecurityGroupType },
        { header: 'CREATED', get: (g) => g.CreationTime },
      ]),
    );
    return EXIT_OK;
  },
};

const sgCreate: Verb = {
  name: 'create',
  summary: 'create a security group',
  help: `create VPC [--name NAME]     create a security group in a VPC (CreateSecurityGroup); prints its id`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('sg create', argv, { name: { type: 'string' }, description: { type: 'string' } });
    const [vpc] = positionalArgs('sg create', positionals, ['VPC']);
    const r = await ctx.client().call('ecs', 'CreateSecurityGroup', { VpcId: vpc, SecurityGroupName: values.name, Description: values.description });
    ctx.io.out(String(r.SecurityGroupId));
    return EXIT_OK;
  },
};

const sgAllow: Verb = {
  name: 'allow',
  summary: 'allow inbound traffic',
  help: `allow SG --port 80/tcp [--port …] [--from CIDR|sg-…] [--priority N]   allow inbound traffic (AuthorizeSecurityGroup)

  --port SPEC      80, 80/tcp, 8000-8080/tcp, 53/udp, icmp or all (repeatable)
  --from SOURCE    a CIDR (default 0.0.0.0/0) or another security group sg-…
  --priority N     1 (first, default) to 100
  --description T  a description of the rule`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('sg allow', argv, {
      port: { type: 'string', multiple: true },
      from: { type: 'string' },
      priority: { type: 'string' },
      description: { type: 'string' },
    });
    const [sg] = positionalArgs('sg allow', positionals, ['SG']);
    if (!values.port?.length) throw new CliError('eci sg allow: give at least one --port (e.g. --port 80/tcp)');
    const from = values.from ?? '0.0.0.0/0';
    const source = from.startsWith('sg-') ? { SourceGroupId: from } : { SourceCidrIp: from };
    const priority = intFlag('priority', values.priority, 1);
    const permissions = values.port.map((p) => ({ ...sgPort(p), ...source, Policy: 'accept', Priority: priority, Description: values.description }));
    await ctx.client().call('ecs', 'AuthorizeSecurityGroup', { SecurityGroupId: sg, Permissions: permissions });
    for (const p of permissions) ctx.io.out(`${sg} allows ${p.IpProtocol} ${p.PortRange} from ${from}`);
    return EXIT_OK;
  },
};

const sgRm: Verb = {
  name: 'rm',
  summary: 'delete security groups',
  help: `rm SG…                       delete security groups (DeleteSecurityGroup)`,
  async run(ctx, argv) {
    const { positionals } = parseVerbArgs('sg rm', argv, {});
    return removeAll(ctx, 'sg rm', positionals, 'ecs', 'DeleteSecurityGroup', 'SecurityGroupId');
  },
};

export const sgVerb: Verb = group('sg', 'security groups: ls, create, allow, rm', 'eci sg <command>   security groups (ECS semantics)', [sgLs, sgCreate, sgAllow, sgRm]);
