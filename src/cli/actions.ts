// `eci <product> <Action> --Param value …`: every API action from the command line. Flags are the
// wire parameter names (`--Container.1.Image nginx`); `--json` prints the raw response, otherwise
// lists print as a table.

import { ALL_ACTIONS } from '../api/actions/index.ts';
import type { Product } from '../api/action.ts';
import { EciClient } from '../client/client.ts';
import { loadClientConfig } from './config.ts';
import { printResult } from './output.ts';

const GLOBAL_FLAGS = new Set(['json', 'endpoint', 'region', 'state-dir']);

export function printHelp(): void {
  const byProduct = new Map<string, string[]>();
  for (const a of ALL_ACTIONS) byProduct.set(a.product, [...(byProduct.get(a.product) ?? []), a.name]);
  console.log(`eci — OpenECI command line

  eci dev [--port N] [--state-dir DIR]     run the all-in-one in the foreground
  eci server [--port N] [--store URL]      run the API server (store: SQLite path or postgres:// URL)
  eci keys create --account NAME           create an access key pair for an account
  eci <product> <Action> [--Param value…]  call any API action (--json for raw output)

Products and actions:`);
  for (const [product, names] of byProduct) console.log(`  ${product}: ${names.sort().join(', ')}`);
}

/** Parses `--Name value` and `--Name=value` pairs; a flag with no value is `true`. */
export function parseFlagPairs(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}": parameters are given as --Name value`);
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out.set(a.slice(2), argv[++i]);
    else out.set(a.slice(2), 'true');
  }
  return out;
}

export async function runAction(product: Product, argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [actionName, ...rest] = argv;
  const action = ALL_ACTIONS.find((a) => a.product === product && a.name === actionName);
  if (!action) {
    const names = ALL_ACTIONS.filter((a) => a.product === product).map((a) => a.name).sort();
    console.error(`eci: ${product} has no action "${actionName ?? ''}". Actions: ${names.join(', ')}`);
    return 2;
  }
  const flags = parseFlagPairs(rest);
  const client = new EciClient(
    loadClientConfig(env, { endpoint: flags.get('endpoint'), region: flags.get('region'), stateDir: flags.get('state-dir') }),
  );
  const params: Record<string, string> = {};
  for (const [k, v] of flags) if (!GLOBAL_FLAGS.has(k)) params[k] = v;
  const result = await client.call(product, action.name, params);
  printResult(result, flags.has('json'));
  return 0;
}
