// What every client-side command receives: the configuration (read once, frozen), where to write,
// and the API client, made on first use so that commands needing no credentials (help, config)
// work without them.

import { EciClient } from '../client/client.ts';
import { requireCredentials, type CliConfig } from './config.ts';
import type { Io } from './output.ts';

export interface CliContext {
  readonly config: Readonly<CliConfig>;
  readonly io: Io;
  /** The API client; throws a CLI error explaining how to get credentials when there are none. */
  client(): EciClient;
}

export function createContext(config: Readonly<CliConfig>, io: Io): CliContext {
  let client: EciClient | undefined;
  return {
    config,
    io,
    client() {
      client ??= new EciClient(requireCredentials(config));
      return client;
    },
  };
}
