// `eci config`: the configuration this invocation would use, and where each value came from.

import { parseVerbArgs } from '../args.ts';
import { CliError, EXIT_OK } from '../errors.ts';
import type { Verb } from './verb.ts';

/** Enough of a secret to tell two apart, never enough to use. */
function mask(secret: string): string {
  return secret === '' ? '' : secret.length <= 8 ? '****' : `${secret.slice(0, 4)}****`;
}

export const configVerb: Verb = {
  name: 'config',
  summary: 'show the endpoint, credentials and region in effect, and their sources',
  help: `eci config [--json]   show the configuration in effect and where each value came from

Precedence, lowest first: defaults, dev.json (in --state-dir, else ECI_STATE_DIR, else ./.eci, then ~/.eci),
ECI_ENDPOINT / ECI_ACCESS_KEY_ID / ECI_ACCESS_KEY_SECRET / ECI_REGION, then the flags --endpoint and --region.
The secret is shown masked.`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('config', argv, { json: { type: 'boolean' } });
    if (positionals.length) throw new CliError(`eci config: unexpected argument "${positionals[0]}"`);
    const c = ctx.config;
    const view = {
      endpoint: c.endpoint,
      accessKeyId: c.accessKeyId,
      accessKeySecret: mask(c.accessKeySecret),
      regionId: c.regionId,
      file: c.file ?? null,
      sources: c.sources,
    };
    if (values.json) {
      ctx.io.out(JSON.stringify(view, null, 2));
      return EXIT_OK;
    }
    const lines = (['endpoint', 'accessKeyId', 'accessKeySecret', 'regionId'] as const).map(
      (k) => `${k.padEnd(16)} ${(view[k] || '(none)').padEnd(28)} ${c.sources[k]}`,
    );
    ctx.io.out([...lines, `${'file'.padEnd(16)} ${c.file ?? '(none found)'}`].join('\n'));
    return EXIT_OK;
  },
};
