// An API worker of `eci server --workers N`: a process of its own that serves the API on the server's
// port (SO_REUSEPORT: the kernel spreads connections over the server and its workers) from the same
// store. It is what N servers sharing one store already are (PostgreSQL, or one SQLite file in WAL
// mode), minus what only one of them should do: it seeds nothing and runs no controllers. Instead it
// tells the server after each commit of its own, so that the server's controllers react to a create
// made here as fast as to one of its own (see startServer).
//
// Contract with the server (src/cmd/server.ts), over the IPC channel of child_process.fork:
//   argv[2]  WorkerSettings as JSON;
//   → server {type: 'ready', port} once it listens, {type: 'changed'} after commits (one per turn);
//   it stops (in-flight requests answered, store closed) on SIGTERM or when the channel closes, which
//   is how it follows a server that died without stopping it.

import type { ServerConfig } from '../core/config.ts';
import { openStore } from '../store/sql-store.ts';
import { serveApi } from './server.ts';

export interface WorkerSettings {
  readonly storeUrl: string;
  readonly port: number;
  readonly host: string;
  readonly config: ServerConfig;
}

export type WorkerMessage = { readonly type: 'ready'; readonly port: number } | { readonly type: 'changed' };

/** How long a stopping worker waits for requests in flight before it closes their connections. */
const DRAIN_MS = 5_000;

async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? '') as WorkerSettings;
  const send = (m: WorkerMessage) => {
    if (process.connected) process.send!(m);
  };
  const store = await openStore(settings.storeUrl);
  const { http, port } = await serveApi(store, settings.config, settings.port, settings.host, true);

  let queued = false;
  const unwatch =
    store.watch?.(
      () => {
        if (queued) return;
        queued = true;
        setImmediate(() => {
          queued = false;
          send({ type: 'changed' });
        });
      },
      { otherProcesses: false },
    ) ?? (() => undefined);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    unwatch();
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeIdleConnections();
    const drained = setTimeout(() => http.closeAllConnections(), DRAIN_MS);
    await closed;
    clearTimeout(drained);
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.on('disconnect', () => void stop());
  send({ type: 'ready', port });
}

main().catch((e: unknown) => {
  console.error('eci api worker:', e);
  process.exit(1);
});
