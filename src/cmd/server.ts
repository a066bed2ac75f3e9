// Wiring of the control-plane server: store, seeding, API pipeline, HTTP listener, controllers, and
// with `workers` > 1 the API worker processes that serve the same port beside it.

import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { ALL_ACTIONS, UNSUPPORTED } from '../api/actions/index.ts';
import { createApiHandler } from '../api/handler.ts';
import { createHttpServer, listen } from '../api/http.ts';
import type { ServerConfig } from '../core/config.ts';
import { startControllers } from '../controllers/index.ts';
import { seedSystem } from '../controllers/seed.ts';
import { openStore } from '../store/sql-store.ts';
import type { Store } from '../store/store.ts';
import type { WorkerMessage, WorkerSettings } from './api-worker.ts';

export interface RunningServer {
  readonly port: number;
  readonly store: Store;
  /** PIDs of the API worker processes serving now (empty with one worker). */
  workerPids(): number[];
  close(): Promise<void>;
}

export interface ServerOptions {
  readonly storeUrl: string;
  readonly port: number;
  readonly host?: string;
  readonly config: ServerConfig;
  /**
   * Processes serving the API, this one included (default 1). Node runs JavaScript on one core per
   * process; each further worker is a process of src/cmd/api-worker.ts on the same port and store.
   */
  readonly workers?: number;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const workers = Math.max(1, Math.floor(opts.workers ?? 1));
  const host = opts.host ?? '127.0.0.1';
  const store = await openStore(opts.storeUrl);
  await seedSystem(store, opts.config);
  const { http, port } = await serveApi(store, opts.config, opts.port, host, workers > 1);
  const controllers = startControllers({ store, config: opts.config });
  let pool: WorkerPool | undefined;
  const close = async () => {
    await pool?.stop();
    await controllers.stop();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeAllConnections();
    await store.close();
  };
  if (workers > 1) {
    pool = new WorkerPool({ storeUrl: opts.storeUrl, port, host, config: opts.config }, () => controllers.wake());
    try {
      await pool.start(workers - 1);
    } catch (e) {
      await close();
      throw e;
    }
  }
  return { port, store, workerPids: () => pool?.pids() ?? [], close };
}

/** The API over HTTP on `port` (0: any free one), for the server and each of its API workers. */
export async function serveApi(store: Store, config: ServerConfig, port: number, host: string, reusePort: boolean): Promise<{ http: Server; port: number }> {
  const handle = createApiHandler({ store, config, actions: ALL_ACTIONS, unsupported: UNSUPPORTED });
  const http = createHttpServer(handle);
  http.keepAliveTimeout = 65_000;
  return { http, port: await listen(http, port, host, { reusePort }) };
}

const WORKER_ENTRY = fileURLToPath(new URL('./api-worker.ts', import.meta.url));
/** A worker that does not listen within this long fails the start. */
const WORKER_READY_MS = 30_000;
/** A worker that dies while serving is started again after this long. */
const WORKER_RESTART_MS = 1_000;
/** A worker that does not stop within this long of SIGTERM is killed. */
const WORKER_STOP_MS = 10_000;

/**
 * The API worker processes of a server. Each is started with the server's settings; one that dies
 * while the server runs is logged and started again; all are stopped (SIGTERM, then SIGKILL) with
 * the server. Each also stops by itself when the server's process is gone (its IPC channel closes).
 */
class WorkerPool {
  readonly #settings: WorkerSettings;
  readonly #onChange: () => void;
  readonly #children = new Set<ChildProcess>();
  #stopping = false;
  #restarts = new Set<NodeJS.Timeout>();

  constructor(settings: WorkerSettings, onChange: () => void) {
    this.#settings = settings;
    this.#onChange = onChange;
  }

  pids(): number[] {
    return [...this.#children].map((c) => c.pid!).filter((p) => p !== undefined);
  }

  async start(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.#spawn()));
  }

  #spawn(): Promise<void> {
    const child = fork(WORKER_ENTRY, [JSON.stringify(this.#settings)], { stdio: 'inherit' });
    this.#children.add(child);
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        reject(new Error(`an API worker did not listen within ${WORKER_READY_MS / 1000} s`));
        child.kill('SIGKILL');
      }, WORKER_READY_MS);
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'changed') this.#onChange();
        else if (m.type === 'ready') {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        this.#children.delete(child);
        // One being started when the server stops is stopped with the others, not a failure.
        if (this.#stopping) return resolve();
        if (!ready) return reject(new Error(`an API worker exited before it listened (${signal ?? `code ${code}`})`));
        console.error(`eci server: API worker ${child.pid} exited (${signal ?? `code ${code}`}); starting another`);
        const t = setTimeout(() => {
          this.#restarts.delete(t);
          if (!this.#stopping) this.#spawn().catch((e: unknown) => console.error('eci server:', e instanceof Error ? e.message : e));
        }, WORKER_RESTART_MS);
        this.#restarts.add(t);
      });
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#restarts) clearTimeout(t);
    await Promise.all(
      [...this.#children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), WORKER_STOP_MS);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
