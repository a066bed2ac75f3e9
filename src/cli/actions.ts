// `eci <product> <Action> --Param value …`: every API action from the command line. Flags are the
// wire parameter names (`--Container.1.Image nginx`), checked against the action's schema before
// anything is sent; `--json` prints the raw response, otherwise a list prints as a table.

import { ALL_ACTIONS } from '../api/actions/index.ts';
import { PRODUCTS, type AnyAction, type Product } from '../api/action.ts';
import { parseFlagPairs } from './args.ts';
import type { CliContext } from './context.ts';
import { CliError, EXIT_OK } from './errors.ts';
import { printResponse, renderTable, type Io } from './output.ts';
import { paramRows, protocolParams, wireParams } from './schema.ts';

export function isProduct(word: string | undefined): word is Product {
  return word !== undefined && Object.hasOwn(PRODUCTS, word);
}

export function actionsOf(product: Product): AnyAction[] {
  return ALL_ACTIONS.filter((a) => a.product === product).sort((a, b) => a.name.localeCompare(b.name));
}

export function findAction(product: Product, name: string): AnyAction | undefined {
  return ALL_ACTIONS.find((a) => a.product === product && a.name === name);
}

/** `eci <product> --help`: the product's actions with their summaries. */
export function printProductHelp(io: Io, product: Product, verbs: string): void {
  const actions = actionsOf(product);
  io.out(`eci ${product} — ${PRODUCTS[product].title} API ${PRODUCTS[product].version}, ${actions.length} actions

Usage: eci ${product} <Action> [--Param value …] [--json]
       eci ${product} <Action> --help      lists the action's parameters
${verbs}
Actions:
${renderTable(actions, [
  { header: 'ACTION', get: (a) => a.name },
  { header: 'SUMMARY', get: (a) => a.summary },
])
  .split('\n')
  .slice(1)
  .map((l) => '  ' + l)
  .join('\n')}`);
}

/** `eci <product> <Action> --help`: the summary and every parameter, derived from the schema. */
export function printActionHelp(io: Io, action: AnyAction): void {
  const rows = paramRows({ ...action.params, ...protocolParams(action) });
  // RegionId is always sent, from the configuration, so the user never has to.
  const needed = rows.filter((r) => r.required === 'yes' && r.name !== 'RegionId').map((r) => `--${r.name.replace(/\.N(?=\.|$)/g, '.1')} …`);
  const table = renderTable(rows, [
    { header: 'NAME', get: (r) => r.name },
    { header: 'TYPE', get: (r) => r.type },
    { header: 'REQUIRED', get: (r) => r.required },
    { header: 'NOTES', get: (r) => (r.name === 'RegionId' ? ['from --region / ECI_REGION unless given', r.notes].filter(Boolean).join('; ') : r.notes) },
  ]);
  io.out(`eci ${action.product} ${action.name} — ${action.summary}
${action.mutating ? 'Changes state; accepts --ClientToken and --DryRun true.' : 'Read-only.'}

Usage: eci ${action.product} ${action.name}${needed.length ? ' ' + needed.join(' ') : ''} [--Param value …] [--json]
List items are numbered from 1 (Tag.1.Key, Tag.2.Key); a list or struct parameter may also be given whole as JSON.

Parameters:
${table
  .split('\n')
  .map((l) => '  ' + l)
  .join('\n')}`);
}

export async function runAction(ctx: CliContext, product: Product, argv: readonly string[]): Promise<number> {
  const [actionName, ...rest] = argv;
  const action = findAction(product, actionName);
  if (!action) {
    const names = actionsOf(product).map((a) => a.name);
    const close = names.find((n) => n.toLowerCase() === actionName.toLowerCase());
    throw new CliError(`${product} has no action "${actionName}".${close ? ` Did you mean ${close}?` : ''} Its actions: ${names.join(', ')}`);
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    printActionHelp(ctx.io, action);
    return EXIT_OK;
  }
  const flags = parseFlagPairs(rest);
  const json = flags.get('json');
  flags.delete('json');
  if (json !== undefined && json !== 'true') throw new CliError(`--json takes no value (got "${json}")`);
  const params = wireParams(action, flags);
  const result = await ctx.client().call<Record<string, unknown>>(product, action.name, Object.fromEntries(params));
  printResponse(ctx.io, result, json !== undefined);
  return EXIT_OK;
}
