// CLI configuration, read once per invocation: defaults, then the file (dev.json), then ECI_*
// environment variables, then flags. The result is frozen and passed down; nothing below src/cli
// reads the environment. Each value remembers where it came from, for `eci config`.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ClientConfig } from '../client/client.ts';
import { CliError, EXIT_API, EXIT_USAGE } from './errors.ts';

/** What `eci dev` writes to <state dir>/dev.json; also the format of a hand-written one. */
export interface DevFile {
  endpoint: string;
  accessKeyId: string;
  accessKeySecret: string;
  regionId: string;
  hostNetns?: string;
}

export const DEFAULT_STATE_DIR = '.eci';
export const DEFAULT_ENDPOINT = '127.0.0.1:8880';
export const DEFAULT_REGION = 'cn-hangzhou';

export type ConfigSource = 'default' | 'file' | 'env' | 'flag';

/** The settings of the global flags, as given (the flags beat every other source). */
export interface GlobalFlags {
  readonly endpoint?: string;
  readonly region?: string;
  readonly stateDir?: string;
}

export interface CliConfig extends ClientConfig {
  /** The dev.json that was read, if any. */
  readonly file: string | undefined;
  readonly sources: Readonly<Record<'endpoint' | 'accessKeyId' | 'accessKeySecret' | 'regionId', ConfigSource>>;
}

/** Where the process runs; injected so that tests need not change the real cwd or HOME. */
export interface Place {
  readonly cwd: string;
  readonly home: string;
}

/**
 * Where dev.json is looked for: in the state dir when one is named (--state-dir, else ECI_STATE_DIR;
 * then only there), otherwise ./.eci, then ~/.eci. Returns the first that exists.
 */
export function findDevFile(stateDir: string | undefined, place: Place): string | undefined {
  const candidates = stateDir
    ? [join(resolve(place.cwd, stateDir), 'dev.json')]
    : [join(resolve(place.cwd, DEFAULT_STATE_DIR), 'dev.json'), join(place.home, '.eci', 'dev.json')];
  return candidates.find((c) => existsSync(c));
}

/**
 * Accepts `host:port`, `http://host:port[/]` or a bare `host` (port 80); answers `host:port`.
 * TLS is refused: the client speaks plain HTTP, as the official SDKs do with protocol "http".
 * A bad flag is a usage error (exit 2); a bad environment variable or file is exit 1.
 */
export function normalizeEndpoint(value: string, from: string, exitCode: number = EXIT_USAGE): string {
  let v = value.trim();
  if (/^https:\/\//i.test(v)) throw new CliError(`${from}: "${value}" uses https, but OpenECI serves plain HTTP; use host:port`, exitCode);
  v = v.replace(/^http:\/\//i, '').replace(/\/+$/, '');
  const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/.exec(v);
  if (!m || (m[2] !== undefined && Number(m[2]) > 65535))
    throw new CliError(`${from}: "${value}" is not an endpoint; expected host:port such as ${DEFAULT_ENDPOINT}`, exitCode);
  return m[2] === undefined ? `${m[1]}:80` : v;
}

function readDevFile(path: string): Partial<DevFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, EXIT_API);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError(`${path}: expected a JSON object`, EXIT_API);
  const out: Partial<DevFile> = {};
  for (const k of ['endpoint', 'accessKeyId', 'accessKeySecret', 'regionId'] as const) {
    const v = (parsed as Record<string, unknown>)[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new CliError(`${path}: "${k}" must be a string`, EXIT_API);
    out[k] = v;
  }
  return out;
}

/** Defaults → dev.json → ECI_* environment → flags. Credentials may be missing here; see requireCredentials. */
export function loadCliConfig(env: Readonly<Record<string, string | undefined>>, flags: GlobalFlags, place: Place): Readonly<CliConfig> {
  const stateDir = flags.stateDir ?? (env.ECI_STATE_DIR || undefined);
  if (flags.stateDir !== undefined && flags.stateDir === '') throw new CliError('--state-dir needs a directory');
  const file = findDevFile(stateDir, place);
  const fromFile = file ? readDevFile(file) : {};
  const sources: Record<keyof CliConfig['sources'], ConfigSource> = { endpoint: 'default', accessKeyId: 'default', accessKeySecret: 'default', regionId: 'default' };
  // An empty environment variable counts as unset, as shells make unsetting awkward; an empty flag does not.
  const pick = (key: keyof CliConfig['sources'], fallback: string, fileValue: string | undefined, envValue: string | undefined, flagValue?: string): string => {
    const [source, value]: [ConfigSource, string] =
      flagValue !== undefined ? ['flag', flagValue] : envValue ? ['env', envValue] : fileValue ? ['file', fileValue] : ['default', fallback];
    sources[key] = source;
    return value;
  };
  const endpointRaw = pick('endpoint', DEFAULT_ENDPOINT, fromFile.endpoint, env.ECI_ENDPOINT, flags.endpoint);
  const endpointFrom = { flag: '--endpoint', env: 'ECI_ENDPOINT', file: file ?? 'dev.json', default: 'default endpoint' }[sources.endpoint];
  const config: CliConfig = {
    endpoint: normalizeEndpoint(endpointRaw, endpointFrom, sources.endpoint === 'flag' ? EXIT_USAGE : EXIT_API),
    accessKeyId: pick('accessKeyId', '', fromFile.accessKeyId, env.ECI_ACCESS_KEY_ID),
    accessKeySecret: pick('accessKeySecret', '', fromFile.accessKeySecret, env.ECI_ACCESS_KEY_SECRET),
    regionId: pick('regionId', DEFAULT_REGION, fromFile.regionId, env.ECI_REGION, flags.region),
    file,
    sources: Object.freeze(sources),
  };
  if (config.regionId === '') throw new CliError('--region needs a region id such as cn-hangzhou');
  return Object.freeze(config);
}

/** The client's part of the configuration; throws a CLI error saying how to get credentials when they are missing. */
export function requireCredentials(config: Readonly<CliConfig>): ClientConfig {
  if (!config.accessKeyId || !config.accessKeySecret)
    throw new CliError(
      'no credentials: run `eci dev` (it writes .eci/dev.json, which eci reads), point --state-dir at a directory holding dev.json, ' +
        'or set ECI_ACCESS_KEY_ID and ECI_ACCESS_KEY_SECRET (create a key with `eci keys create --account NAME`)',
      EXIT_API,
    );
  return { endpoint: config.endpoint, accessKeyId: config.accessKeyId, accessKeySecret: config.accessKeySecret, regionId: config.regionId };
}
