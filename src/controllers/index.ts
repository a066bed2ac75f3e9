// Control-plane reconcilers. Each is level-based: it re-reads the store on every pass, so a restart
// or a second server loses nothing. They run on a timer; a pass that throws is logged and retried.

import type { ServerConfig } from '../core/config.ts';
import type { Store } from '../store/store.ts';
import { eipController } from './eip.ts';
import { hostController } from './hosts.ts';
import { placementController } from './placement.ts';

export interface Controller {
  readonly name: string;
  readonly intervalMs: number;
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
];

export function startControllers(deps: ControllerDeps): { stop(): Promise<void> } {
  let stopped = false;
  const running = new Set<Promise<void>>();
  const timers = CONTROLLER_FACTORIES.map((make) => {
    const c = make(deps);
    let busy = false;
    return setInterval(() => {
      if (busy || stopped) return;
      busy = true;
      const pass = c
        .reconcile(new Date())
        .catch((e) => console.error(`controller ${c.name}:`, e))
        .finally(() => {
          busy = false;
          running.delete(pass);
        });
      running.add(pass);
    }, c.intervalMs);
  });
  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      await Promise.all(running);
    },
  };
}
