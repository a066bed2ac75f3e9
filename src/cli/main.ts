// Command dispatch for `eci`. The long-running commands (server, dev) and store administration (keys)
// take their own flags; every other command talks to an OpenECI endpoint with the configuration read
// once here (defaults → dev.json → ECI_* env → flags) and passed down frozen.
//
// `eci vpc` is both a product (raw actions, `eci vpc CreateVpc …`) and a verb group (`eci vpc ls`):
// an UpperCamel next word is an action, a lower-case one a verb.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ALL_ACTIONS } from '../api/actions/index.ts';
import { PRODUCTS, type Product } from '../api/action.ts';
import { isProduct, printProductHelp, runAction } from './actions.ts';
import { extractGlobalFlags } from './args.ts';
import { loadCliConfig, type Place } from './config.ts';
import { createContext, type CliContext } from './context.ts';
import { DAEMON_HELP, runAgent, runDev, runKeys, runServer } from './daemons.ts';
import { CliError, describeFailure, EXIT_OK, EXIT_USAGE } from './errors.ts';
import { processIo, type Io } from './output.ts';
import { configVerb } from './verbs/config.ts';
import { logsVerb, psVerb, rmVerb } from './verbs/containers.ts';
import { eipVerb } from './verbs/eip.ts';
import { imageVerb } from './verbs/image.ts';
import { sgVerb, vpcVerb, vswitchVerb } from './verbs/network.ts';
import { runVerb as runVerbCommand } from './verbs/run.ts';
import { runVerb, type Verb } from './verbs/verb.ts';

const VERBS: readonly Verb[] = [runVerbCommand, psVerb, logsVerb, rmVerb, eipVerb, vpcVerb, vswitchVerb, sgVerb, configVerb, imageVerb];

/** Verb groups that share their name with a product. */
const PRODUCT_VERBS: Partial<Record<Product, Verb>> = { vpc: vpcVerb };

function version(): string {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function helpText(): string {
  const verbs = VERBS.map((v) => `  eci ${v.name.padEnd(9)} ${v.summary}`).join('\n');
  const products = (Object.keys(PRODUCTS) as Product[])
    .map((p) => `  eci ${p} <Action> …   ${PRODUCTS[p].title} ${PRODUCTS[p].version}: ${ALL_ACTIONS.filter((a) => a.product === p).length} actions (eci ${p} --help lists them)`)
    .join('\n');
  return `eci — OpenECI: serverless containers on your own Linux hosts, speaking the Alibaba Cloud ECI/VPC/ECS API

Run OpenECI:
${DAEMON_HELP}

Daily work:
${verbs}

Every API action:
${products}
  Flags are the wire parameter names: eci vpc CreateVpc --CidrBlock 192.168.0.0/16
  eci <product> <Action> --help lists an action's parameters.

Global flags (any command that calls the API):
  --endpoint HOST:PORT   the OpenECI endpoint (ECI_ENDPOINT; default 127.0.0.1:8880)
  --region ID            the region (ECI_REGION; default cn-hangzhou)
  --state-dir DIR        where dev.json is read from (ECI_STATE_DIR; default ./.eci, then ~/.eci)
  --json                 print JSON instead of tables
Credentials come from dev.json or ECI_ACCESS_KEY_ID / ECI_ACCESS_KEY_SECRET; \`eci config\` shows what is in effect.

Exit status: 0 success; 1 the API refused (prints "Code: Message (RequestId …)"), is unreachable, or the
configuration is unusable; 2 a usage error (nothing was sent).`;
}

async function dispatch(ctx: CliContext, args: readonly string[]): Promise<number> {
  const [word, ...rest] = args;
  if (word === undefined || word === 'help' || word === '--help' || word === '-h') {
    const topic = word === 'help' ? rest[0] : undefined;
    if (topic === 'server' || topic === 'dev' || topic === 'keys' || topic === 'agent') {
      ctx.io.out(DAEMON_HELP);
      return EXIT_OK;
    }
    if (topic !== undefined) return dispatch(ctx, [topic, '--help']);
    ctx.io.out(helpText());
    return EXIT_OK;
  }
  const verb = VERBS.find((v) => v.name === word && !isProduct(word));
  if (verb) return runVerb(verb, ctx, rest);
  if (isProduct(word)) {
    const next = rest[0];
    const productVerb = PRODUCT_VERBS[word];
    if (next === undefined || next === '--help' || next === '-h' || next === 'help') {
      printProductHelp(ctx.io, word, productVerb ? `\n${productVerb.help}\n` : '');
      return EXIT_OK;
    }
    if (/^[A-Z]/.test(next)) return runAction(ctx, word, rest);
    if (productVerb && !next.startsWith('-')) return runVerb(productVerb, ctx, rest);
    const action = ALL_ACTIONS.find((a) => a.product === word && a.name.toLowerCase() === next.toLowerCase());
    throw new CliError(
      `eci ${word}: "${next}" is neither an action (actions are UpperCamel, e.g. ${action?.name ?? 'DescribeRegions'})` +
        `${productVerb ? ` nor one of the commands ${productVerb.subcommands?.join(', ')}` : ''}. See \`eci ${word} --help\`.`,
    );
  }
  const known = [...VERBS.map((v) => v.name), 'server', 'dev', 'agent', 'keys', ...Object.keys(PRODUCTS)];
  throw new CliError(`unknown command "${word}". Commands: ${[...new Set(known)].join(', ')}. Run \`eci help\`.`);
}

/**
 * Runs one `eci` invocation and answers its exit status. `place` (cwd and home, where dev.json is
 * looked for) and `io` are parameters so that tests can run it in-process.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: Io = processIo, place: Place = { cwd: process.cwd(), home: homedir() }): Promise<number> {
  let endpoint: string | undefined;
  try {
    const [command, ...rest] = argv;
    if (command === '--version' || command === 'version') {
      io.out(version());
      return EXIT_OK;
    }
    if (command === 'server' || command === 'dev' || command === 'keys' || command === 'agent') {
      if (rest.includes('--help') || rest.includes('-h')) {
        io.out(DAEMON_HELP);
        return EXIT_OK;
      }
      if (command === 'server') return await runServer([...rest], env);
      if (command === 'dev') return await runDev([...rest], env);
      if (command === 'agent') return await runAgent([...rest], env);
      return await runKeys([...rest], env);
    }
    if (command === undefined || (command === 'help' && rest.length === 0) || command === '--help' || command === '-h') {
      // Plain help needs no configuration, so it works even beside a broken dev.json.
      io.out(helpText());
      return EXIT_OK;
    }
    const { globals, rest: args } = extractGlobalFlags(argv);
    const config = loadCliConfig(env, globals, place);
    endpoint = config.endpoint;
    return await dispatch(createContext(config, io), args);
  } catch (e) {
    const parseError = typeof (e as { code?: unknown })?.code === 'string' && (e as { code: string }).code.startsWith('ERR_PARSE_ARGS');
    const { line, exitCode } = describeFailure(e, endpoint);
    io.err(line);
    return parseError ? EXIT_USAGE : exitCode;
  }
}
