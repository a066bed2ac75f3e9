// The shape of a friendly verb (`eci run`, `eci ps`, `eci eip alloc` …) and what verbs share: help
// handling, sub-command groups, and paging through list actions.

import type { Product } from '../../api/action.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT_OK } from '../errors.ts';

export interface Verb {
  readonly name: string;
  /** One line for `eci help`. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly help: string;
  /** The sub-command names of a group. */
  readonly subcommands?: readonly string[];
  run(ctx: CliContext, argv: readonly string[]): Promise<number>;
}

/** `--help` or `-h` anywhere before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  const dash = argv.indexOf('--');
  return (dash < 0 ? argv : argv.slice(0, dash)).some((a) => a === '--help' || a === '-h');
}

/** Runs a verb, printing its help instead when asked (a group passes `<command> --help` on to that command). */
export function runVerb(verb: Verb, ctx: CliContext, argv: readonly string[]): Promise<number> {
  if (wantsHelp(argv) && !(argv[0] !== undefined && verb.subcommands?.includes(argv[0]))) {
    ctx.io.out(verb.help);
    return Promise.resolve(EXIT_OK);
  }
  return verb.run(ctx, argv);
}

/** A verb made of sub-commands (`eci eip ls|alloc|…`). */
export function group(name: string, summary: string, intro: string, subs: readonly Verb[]): Verb {
  const help = `${intro}\n\n${subs.map((s) => s.help.split('\n')[0]).map((l) => '  ' + l).join('\n')}\n\nRun \`eci ${name} <command> --help\` for a command's options.`;
  return {
    name,
    summary,
    help,
    subcommands: subs.map((s) => s.name),
    async run(ctx, argv) {
      const [word, ...rest] = argv;
      if (word === undefined || word === 'help') {
        ctx.io.out(help);
        return EXIT_OK;
      }
      const sub = subs.find((s) => s.name === word);
      if (!sub) throw new CliError(`eci ${name}: unknown command "${word}". Commands: ${subs.map((s) => s.name).join(', ')}`);
      return runVerb(sub, ctx, rest);
    },
  };
}

/** Exactly `count` positional arguments, named in the error when they are not. */
export function positionalArgs(command: string, positionals: readonly string[], names: readonly string[]): string[] {
  if (positionals.length !== names.length)
    throw new CliError(
      positionals.length < names.length
        ? `eci ${command}: missing ${names.slice(positionals.length).join(' ')} (usage: eci ${command} ${names.join(' ')})`
        : `eci ${command}: unexpected argument "${positionals[names.length]}" (usage: eci ${command} ${names.join(' ')})`,
    );
  return [...positionals];
}

/**
 * Every item of a PageNumber/PageSize list action (the VPC and ECS style): pages until TotalCount
 * items came back or a page is empty. Items may arrive twice if resources are created meanwhile;
 * they are de-duplicated by `idOf`.
 */
export async function listAllByPage<T>(
  ctx: CliContext,
  product: Product,
  action: string,
  params: Record<string, unknown>,
  pageSize: number,
  itemsOf: (response: any) => T[] | undefined,
  idOf: (item: T) => string,
): Promise<T[]> {
  const seen = new Map<string, T>();
  for (let page = 1; ; page++) {
    const r = await ctx.client().call(product, action, { ...params, PageNumber: page, PageSize: pageSize });
    const items = itemsOf(r) ?? [];
    for (const item of items) seen.set(idOf(item), item);
    if (items.length === 0 || items.length < pageSize || page * pageSize >= Number(r.TotalCount ?? 0)) break;
  }
  return [...seen.values()];
}
