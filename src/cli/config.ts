// CLI configuration, read once: defaults, then the file (dev.json), then ECI_* environment variables,
// then flags. The result is frozen and passed down.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ClientConfig } from '../client/client.ts';

export interface DevFile {
  endpoint: string;
  accessKeyId: string;
  accessKeySecret: string;
  regionId: string;
  hostNetns?: string;
}

export const DEFAULT_STATE_DIR = '.eci';

/** Where dev.json is looked for: --state-dir / ECI_STATE_DIR, then ./.eci, then ~/.eci. */
export function findDevFile(stateDir: string | undefined): string | undefined {
  const candidates = stateDir ? [join(stateDir, 'dev.json')] : [join(DEFAULT_STATE_DIR, 'dev.json'), join(homedir(), '.eci', 'dev.json')];
  return candidates.map((c) => resolve(c)).find((c) => existsSync(c));
}

export function loadClientConfig(env: NodeJS.ProcessEnv, flags: { endpoint?: string; region?: string; stateDir?: string; accessKeyId?: string; accessKeySecret?: string }): Readonly<ClientConfig> {
  let file: Partial<DevFile> = {};
  const path = findDevFile(flags.stateDir ?? env.ECI_STATE_DIR);
  if (path) file = JSON.parse(readFileSync(path, 'utf8')) as DevFile;
  const cfg = {
    endpoint: flags.endpoint ?? env.ECI_ENDPOINT ?? file.endpoint ?? '127.0.0.1:8880',
    accessKeyId: flags.accessKeyId ?? env.ECI_ACCESS_KEY_ID ?? file.accessKeyId ?? '',
    accessKeySecret: flags.accessKeySecret ?? env.ECI_ACCESS_KEY_SECRET ?? file.accessKeySecret ?? '',
    regionId: flags.region ?? env.ECI_REGION ?? file.regionId ?? 'cn-hangzhou',
  };
  if (!cfg.accessKeyId || !cfg.accessKeySecret)
    throw new Error('no credentials: start `eci dev` (it writes .eci/dev.json), or set ECI_ACCESS_KEY_ID and ECI_ACCESS_KEY_SECRET');
  return Object.freeze(cfg);
}
