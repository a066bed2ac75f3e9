// `eci eip ls|alloc|assoc|unassoc|release|set-bandwidth`: elastic IPs through the VPC EIP actions.
// Wherever an EIP is named, its allocation id (eip-…) or its address (203.0.113.7) will do.

import { intFlag, parseVerbArgs } from '../args.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT_API, EXIT_OK } from '../errors.ts';
import { renderTable } from '../output.ts';
import { group, listAllByPage, positionalArgs, type Verb } from './verb.ts';

export interface EipRow {
  AllocationId: string;
  IpAddress?: string;
  Status?: string;
  Bandwidth?: string;
  InstanceId?: string;
  InstanceType?: string;
  Name?: string;
  AllocationTime?: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** An allocation id, or an address looked up with DescribeEipAddresses. */
export async function resolveEip(ctx: CliContext, ref: string): Promise<string> {
  if (!IPV4.test(ref)) return ref;
  const r = await ctx.client().call('vpc', 'DescribeEipAddresses', { EipAddress: ref });
  const hit = ((r.EipAddresses?.EipAddress ?? []) as EipRow[]).find((e) => e.IpAddress === ref);
  if (!hit) throw new CliError(`no EIP of yours has the address ${ref}`, EXIT_API);
  return hit.AllocationId;
}

const ls: Verb = {
  name: 'ls',
  summary: 'list EIPs',
  help: `ls [--status S] [--json]             list EIPs: ID, IP, STATUS, BANDWIDTH (Mbit/s), INSTANCE, NAME, CREATED`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('eip ls', argv, { json: { type: 'boolean' }, status: { type: 'string' } });
    positionalArgs('eip ls', positionals, []);
    const eips = await listAllByPage<EipRow>(ctx, 'vpc', 'DescribeEipAddresses', { Status: values.status }, 100, (r) => r.EipAddresses?.EipAddress, (e) => e.AllocationId);
    if (values.json) {
      ctx.io.out(JSON.stringify(eips, null, 2));
      return EXIT_OK;
    }
    ctx.io.out(
      renderTable(eips, [
        { header: 'ID', get: (e) => e.AllocationId },
        { header: 'IP', get: (e) => e.IpAddress },
        { header: 'STATUS', get: (e) => e.Status },
        { header: 'BANDWIDTH', get: (e) => e.Bandwidth },
        { header: 'INSTANCE', get: (e) => e.InstanceId },
        { header: 'NAME', get: (e) => e.Name },
        { header: 'CREATED', get: (e) => e.AllocationTime },
      ]),
    );
    return EXIT_OK;
  },
};

const alloc: Verb = {
  name: 'alloc',
  summary: 'allocate an EIP',
  help: `alloc [--bandwidth N] [--name NAME]  allocate an EIP (AllocateEipAddress); prints "ID IP"

  --bandwidth N   Mbit/s, 1–500 (default 5)
  --name NAME     a name for it
  --json          print the whole response`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('eip alloc', argv, { bandwidth: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } });
    positionalArgs('eip alloc', positionals, []);
    const r = await ctx.client().call('vpc', 'AllocateEipAddress', { Bandwidth: intFlag('bandwidth', values.bandwidth, 1), Name: values.name });
    ctx.io.out(values.json ? JSON.stringify(r, null, 2) : `${r.AllocationId} ${r.EipAddress}`);
    return EXIT_OK;
  },
};

const assoc: Verb = {
  name: 'assoc',
  summary: 'bind an EIP to a container group or NAT gateway',
  help: `assoc EIP INSTANCE                   bind an EIP to a container group (eci-…) or NAT gateway (ngw-…) (AssociateEipAddress)

The EIP goes Associating, then InUse once the instance's network is up.`,
  async run(ctx, argv) {
    const { positionals } = parseVerbArgs('eip assoc', argv, {});
    const [ref, instance] = positionalArgs('eip assoc', positionals, ['EIP', 'INSTANCE']);
    const id = await resolveEip(ctx, ref);
    await ctx.client().call('vpc', 'AssociateEipAddress', { AllocationId: id, InstanceId: instance });
    ctx.io.out(`${id} → ${instance}`);
    return EXIT_OK;
  },
};

const unassoc: Verb = {
  name: 'unassoc',
  summary: 'unbind an EIP',
  help: `unassoc EIP [--force]                unbind an EIP from whatever holds it (UnassociateEipAddress)

  --force   also when NAT SNAT/DNAT entries use it (they are removed)`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('eip unassoc', argv, { force: { type: 'boolean' } });
    const [ref] = positionalArgs('eip unassoc', positionals, ['EIP']);
    const id = await resolveEip(ctx, ref);
    await ctx.client().call('vpc', 'UnassociateEipAddress', { AllocationId: id, Force: values.force ? true : undefined });
    ctx.io.out(id);
    return EXIT_OK;
  },
};

const release: Verb = {
  name: 'release',
  summary: 'release EIPs',
  help: `release EIP…                         release EIPs that are Available (ReleaseEipAddress)`,
  async run(ctx, argv) {
    const { positionals } = parseVerbArgs('eip release', argv, {});
    if (positionals.length === 0) throw new CliError('eci eip release: expected one or more EIPs (eip-… or addresses)');
    for (const ref of positionals) {
      const id = await resolveEip(ctx, ref);
      await ctx.client().call('vpc', 'ReleaseEipAddress', { AllocationId: id });
      ctx.io.out(id);
    }
    return EXIT_OK;
  },
};

const setBandwidth: Verb = {
  name: 'set-bandwidth',
  summary: "change an EIP's bandwidth",
  help: `set-bandwidth EIP N                  change an EIP's bandwidth to N Mbit/s, live (ModifyEipAddressAttribute)`,
  async run(ctx, argv) {
    const { positionals } = parseVerbArgs('eip set-bandwidth', argv, {});
    const [ref, n] = positionalArgs('eip set-bandwidth', positionals, ['EIP', 'N']);
    if (!/^\d+$/.test(n) || Number(n) < 1) throw new CliError(`eci eip set-bandwidth: N is a whole number of Mbit/s, not "${n}"`);
    const bandwidth = Number(n);
    const id = await resolveEip(ctx, ref);
    await ctx.client().call('vpc', 'ModifyEipAddressAttribute', { AllocationId: id, Bandwidth: bandwidth });
    ctx.io.out(`${id} ${bandwidth} Mbit/s`);
    return EXIT_OK;
  },
};

export const eipVerb: Verb = group(
  'eip',
  'elastic IPs: ls, alloc, assoc, unassoc, release, set-bandwidth',
  'eci eip <command>   elastic IP addresses (an EIP may be named by its id eip-… or by its address)',
  [ls, alloc, assoc, unassoc, release, setBandwidth],
);
