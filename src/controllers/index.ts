// Control-plane reconcilers. Each is level-based: it re-reads the store on every pass, so a restart
// or a second server loses nothing. They run on a timer; a pass that throws is logged and retried.

import type { ServerConfig } from '../core/config.ts';
import type { Store } from '../store/store.ts';
import { eipController } from './eip.ts';
import { hostController } from './hosts.ts';
import { imageCacheController } from './image-caches.ts';
import { placementController } from './placement.ts';

export interface Controller {
  readonly name: string;
  readonly intervalMs: number;
  /**
   * Also run a pass as soon as this server commits a write to the store (Store.watch), instead of
   * waiting for the timer. The timer still runs.
   */
  readonly wakeOnChange?: boolean;
  reconcile(now: Date): Promise<void>;
}

export interface ControllerDeps {
  readonly store: Store;
  readonly config: ServerConfig;
}

/** The controllers of the server, explicitly listed. */
const CONTROLLER_FACTORIES: readonly ((deps: ControllerDeps) => Controller)[] = [
  eipController,
  hostController,
  placementController,
  imageCacheController,
];

export interface RunningControllers {
  /**
   * Runs a pass of each wakeOnChange controller, as a commit of this server does: for commits made
   * on this server's behalf by another process (its API workers, src/cmd/api-worker.ts).
   */
  wake(): void;
  stop(): Promise<void>;
}

export function startControllers(deps: ControllerDeps): RunningControllers {
  let stopped = false;
  const running = new Set<Promise<void>>();
  const unwatch: (() => void)[] = [];
  const wakers: (() => void)[] = [];
  const timers = CONTROLLER_FACTORIES.map((make) => {
    const c = make(deps);
    let busy = false;
    // A wake during a pass runs one more pass right after it: the running one may have read before
    // the commit that woke it.
    let again = false;
    const tick = () => {
      if (stopped) return;
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      again = false;
      const pass = c
        .reconcile(new Date())
        .catch((e) => console.error(`controller ${c.name}:`, e))
        .finally(() => {
          busy = false;
          running.delete(pass);
          if (again) tick();
        });
      running.add(pass);
    };
    // This server's own commits only: every API call of another process sharing a SQLite file would
    // poke too (its nonce), and the timer already covers other servers.
    if (c.wakeOnChange && deps.store.watch) unwatch.push(deps.store.watch(tick, { otherProcesses: false }));
    if (c.wakeOnChange) wakers.push(tick);
    return setInterval(() => {
      if (!busy) tick();
    }, c.intervalMs);
  });
  return {
    wake() {
      for (const w of wakers) w();
    },
    async stop() {
      stopped = true;
      for (const u of unwatch) u();
      for (const t of timers) clearInterval(t);
      await Promise.all(running);
    },
  };
}
