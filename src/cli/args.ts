// Command-line parsing. Verbs declare their options for node:util's parseArgs; raw API actions take
// the wire names as flags (`--Container.1.Image nginx`), which no fixed option table can list, so
// they have their own small pair parser.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './errors.ts';
import type { GlobalFlags } from './config.ts';

const GLOBAL_NAMES = { endpoint: 'endpoint', region: 'region', 'state-dir': 'stateDir' } as const;

/**
 * Removes the global flags (--endpoint, --region, --state-dir) from anywhere before a `--`, so they may
 * be written before or after the command. Everything after `--` belongs to the command.
 */
export function extractGlobalFlags(argv: readonly string[]): { globals: GlobalFlags; rest: string[] } {
  const globals: { -readonly [K in keyof GlobalFlags]: GlobalFlags[K] } = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--(endpoint|region|state-dir)(?:=(.*))?$/s.exec(a);
    if (!m) {
      rest.push(a);
      continue;
    }
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new CliError(`--${m[1]} needs a value`);
      value = argv[++i];
    }
    globals[GLOBAL_NAMES[m[1] as keyof typeof GLOBAL_NAMES]] = value;
  }
  return { globals, rest };
}

/**
 * Parses `--Name value` and `--Name=value` pairs; a flag followed by another flag (or nothing) is
 * `true`. A repeated flag is refused: the wire has one value per name.
 */
export function parseFlagPairs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || a === '--') throw new CliError(`unexpected argument "${a}": parameters are given as --Name value`);
    const eq = a.indexOf('=');
    let name: string;
    let value: string;
    if (eq > 0) {
      name = a.slice(2, eq);
      value = a.slice(eq + 1);
    } else {
      name = a.slice(2);
      value = i + 1 < argv.length && !argv[i + 1].startsWith('--') ? argv[++i] : 'true';
    }
    if (name === '') throw new CliError(`unexpected argument "${a}"`);
    if (out.has(name)) throw new CliError(`--${name} is given twice`);
    out.set(name, value);
  }
  return out;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs with strict checking, its errors turned into CLI errors that name the command.
 * Arguments after `--` are returned apart (`eci run … -- sh -c 'echo hi'`).
 */
export function parseVerbArgs<const O extends Options>(command: string, argv: readonly string[], options: O) {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? [...argv] : argv.slice(0, dash);
  const trailing = dash < 0 ? [] : argv.slice(dash + 1);
  try {
    const { values, positionals } = parseArgs({ args: own, options, allowPositionals: true, strict: true });
    return { values, positionals, trailing };
  } catch (e) {
    const message = e instanceof Error ? e.message.replace(/\. To specify a positional argument.*$/s, '.') : String(e);
    throw new CliError(`eci ${command}: ${message} (see \`eci ${command} --help\`)`);
  }
}

/** Parses a whole number flag, or throws a CLI error naming it. */
export function intFlag(name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new CliError(`--${name} expects a whole number${min > 0 ? ` of at least ${min}` : ''}, not "${value}"`);
  return Number(value);
}

/** Parses a decimal number flag (CPU cores, GiB of memory), or throws a CLI error naming it. */
export function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^(\d+\.?\d*|\.\d+)$/.test(value)) throw new CliError(`--${name} expects a number, not "${value}"`);
  return Number(value);
}

/** `K=V` (the value may contain `=` and be empty). */
export function keyValue(name: string, text: string): { Key: string; Value: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new CliError(`--${name} expects KEY=VALUE, not "${text}"`);
  return { Key: text.slice(0, eq), Value: text.slice(eq + 1) };
}

/** `10`, `10s`, `5m`, `2h`, `1d` → seconds. */
export function durationSeconds(name: string, text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw new CliError(`--${name} expects a duration such as 30s, 5m, 2h or 1d, not "${text}"`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}
