// `eci ps`, `eci logs`, `eci rm`: container groups from day to day.

import { durationSeconds, intFlag, parseVerbArgs } from '../args.ts';
import type { CliContext } from '../context.ts';
import { CliError, describeFailure, EXIT_API, EXIT_OK } from '../errors.ts';
import { renderTable } from '../output.ts';
import type { Verb } from './verb.ts';

/** The statuses after which a group never runs again (the reference's final states); `eci ps` hides them unless --all. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Expired']);

/** DescribeContainerGroups answers at most 20 per call. */
const PAGE = 20;

export interface ContainerGroupRow {
  ContainerGroupId: string;
  ContainerGroupName?: string;
  Status?: string;
  IntranetIp?: string;
  InternetIp?: string;
  Cpu?: number;
  Memory?: number;
  CreationTime?: string;
  Containers?: { Name?: string }[];
}

/** Every container group matching `filter`, following NextToken to the end. */
export async function listContainerGroups(ctx: CliContext, filter: Record<string, unknown>): Promise<ContainerGroupRow[]> {
  const out = new Map<string, ContainerGroupRow>();
  const tokens = new Set<string>();
  let token: string | undefined;
  do {
    const r = await ctx.client().call('eci', 'DescribeContainerGroups', { ...filter, Limit: PAGE, NextToken: token });
    for (const g of (r.ContainerGroups ?? []) as ContainerGroupRow[]) out.set(g.ContainerGroupId, g);
    token = typeof r.NextToken === 'string' && r.NextToken !== '' ? r.NextToken : undefined;
    // A server repeating a token would loop forever; stop instead.
    if (token !== undefined && tokens.has(token)) break;
    if (token !== undefined) tokens.add(token);
  } while (token !== undefined);
  return [...out.values()];
}

export const psVerb: Verb = {
  name: 'ps',
  summary: 'list container groups',
  help: `eci ps [--all] [--name NAME] [--status STATUS] [--json]   list container groups (DescribeContainerGroups, every page)

  --all            also show groups that have ended (Succeeded, Failed, Expired)
  --name NAME      only the group with this name
  --status STATUS  only groups in this status (implies --all)
  --json           print the groups as a JSON array

Columns: ID, NAME, STATUS, IP (private), EIP, CPU (vCPU), MEM (GiB), CREATED.`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('ps', argv, {
      all: { type: 'boolean' },
      name: { type: 'string' },
      status: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length) throw new CliError(`eci ps: unexpected argument "${positionals[0]}"`);
    let groups = await listContainerGroups(ctx, { ContainerGroupName: values.name, Status: values.status });
    if (!values.all && values.status === undefined) groups = groups.filter((g) => !FINAL_STATUSES.has(g.Status ?? ''));
    groups.sort((a, b) => (b.CreationTime ?? '').localeCompare(a.CreationTime ?? '') || a.ContainerGroupId.localeCompare(b.ContainerGroupId));
    if (values.json) {
      ctx.io.out(JSON.stringify(groups, null, 2));
      return EXIT_OK;
    }
    ctx.io.out(
      renderTable(groups, [
        { header: 'ID', get: (g) => g.ContainerGroupId },
        { header: 'NAME', get: (g) => g.ContainerGroupName },
        { header: 'STATUS', get: (g) => g.Status },
        { header: 'IP', get: (g) => g.IntranetIp },
        { header: 'EIP', get: (g) => g.InternetIp },
        { header: 'CPU', get: (g) => g.Cpu },
        { header: 'MEM', get: (g) => g.Memory },
        { header: 'CREATED', get: (g) => g.CreationTime },
      ]),
    );
    return EXIT_OK;
  },
};

export const logsVerb: Verb = {
  name: 'logs',
  summary: "print a container's log",
  help: `eci logs ID [--container NAME] [--tail N] [--since 10s|5m|2h] [--timestamps]   print a container's log (DescribeContainerLog)

  --container NAME  the container (needed only when the group has several)
  --tail N          only the last N lines
  --since DURATION  only lines newer than this (30s, 5m, 2h, 1d)
  --timestamps      prefix each line with its time
  --json            print the whole response`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('logs', argv, {
      container: { type: 'string' },
      tail: { type: 'string' },
      since: { type: 'string' },
      timestamps: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new CliError(`eci logs: expected one container group id (usage: eci logs ID [--container NAME])`);
    const id = positionals[0];
    const tail = intFlag('tail', values.tail);
    const since = values.since === undefined ? undefined : durationSeconds('since', values.since);
    let container = values.container;
    if (container === undefined) {
      // The action wants a container name; a group with a single container needs none from the user.
      const [group] = await listContainerGroups(ctx, { ContainerGroupIds: JSON.stringify([id]) });
      if (!group) throw new CliError(`eci logs: there is no container group ${id} in ${ctx.config.regionId}`, EXIT_API);
      const names = (group?.Containers ?? []).map((c) => c.Name).filter((n): n is string => typeof n === 'string');
      if (names.length > 1) throw new CliError(`eci logs: ${id} has several containers (${names.join(', ')}); choose one with --container`);
      container = names[0];
    }
    const r = await ctx.client().call('eci', 'DescribeContainerLog', {
      ContainerGroupId: id,
      ContainerName: container,
      Tail: tail,
      SinceSeconds: since,
      Timestamps: values.timestamps ? true : undefined,
    });
    if (values.json) ctx.io.out(JSON.stringify(r, null, 2));
    else if (typeof r.Content === 'string' && r.Content !== '') ctx.io.out(r.Content);
    return EXIT_OK;
  },
};

export const rmVerb: Verb = {
  name: 'rm',
  summary: 'delete container groups',
  help: `eci rm ID… [--force]   delete container groups (DeleteContainerGroup)

  --force   delete even a group in a state that refuses deletion (Force=true)

Prints each deleted id; a failure is reported for its id and the others still go ahead. Exits 1 if any failed.`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('rm', argv, { force: { type: 'boolean' } });
    if (positionals.length === 0) throw new CliError('eci rm: expected one or more container group ids');
    let failed = false;
    for (const id of positionals) {
      try {
        await ctx.client().call('eci', 'DeleteContainerGroup', { ContainerGroupId: id, Force: values.force ? true : undefined });
        ctx.io.out(id);
      } catch (e) {
        const { line, exitCode } = describeFailure(e, ctx.config.endpoint);
        if (exitCode !== EXIT_API) throw e;
        ctx.io.err(`${id}: ${line}`);
        failed = true;
      }
    }
    return failed ? EXIT_API : EXIT_OK;
  },
};
