// Wiring of the control-plane server: store, seeding, API pipeline, HTTP listener, controllers.

import type { Server } from 'node:http';
import { ALL_ACTIONS, UNSUPPORTED } from '../api/actions/index.ts';
import { createApiHandler } from '../api/handler.ts';
import { createHttpServer, listen } from '../api/http.ts';
import type { ServerConfig } from '../core/config.ts';
import { startControllers } from '../controllers/index.ts';
import { seedSystem } from '../controllers/seed.ts';
import { openStore } from '../store/sql-store.ts';
import type { Store } from '../store/store.ts';

export interface RunningServer {
  readonly port: number;
  readonly store: Store;
  close(): Promise<void>;
}

export async function startServer(opts: { storeUrl: string; port: number; host?: string; config: ServerConfig }): Promise<RunningServer> {
  const store = await openStore(opts.storeUrl);
  await seedSystem(store, opts.config);
  const handle = createApiHandler({ store, config: opts.config, actions: ALL_ACTIONS, unsupported: UNSUPPORTED });
  const http: Server = createHttpServer(handle);
  http.keepAliveTimeout = 65_000;
  const port = await listen(http, opts.port, opts.host ?? '127.0.0.1');
  const controllers = startControllers({ store, config: opts.config });
  return {
    port,
    store,
    async close() {
      await controllers.stop();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await store.close();
    },
  };
}
