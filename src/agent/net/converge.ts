// One network pass as the agent runs it: observe (HostObserver: the cached view between resyncs) →
// plan → apply, then the observer is told what changed.
//
// Contract: a pass planned from the cached view whose apply fails (the kernel was changed behind the
// agent's back since it was read, so a delta no longer fits) is planned again, at once, from a full
// observation of the host, and applied; only when that fails too does the pass fail. A pass that was
// full already fails at once. Either way the observer is invalidated on failure, so the next pass reads
// everything.

import { applyNetwork } from './apply.ts';
import type { HostObserver } from './observe.ts';
import { planNetwork, type NetStep, type PolicyFor } from './plan.ts';
import type { HostNetwork } from './topology.ts';

export interface ConvergeOptions {
  /** Read the whole host first (the periodic resync). */
  readonly full?: boolean;
  /** Filled with the milliseconds of each phase of the last attempt (observe, plan, apply), for benchmarks. */
  readonly marks?: Record<string, number>;
}

/** Converges the host's network to `desired`; answers the steps applied (of the attempt that succeeded). */
export async function convergeNetwork(observer: HostObserver, desired: HostNetwork, policyFor: PolicyFor, opts: ConvergeOptions = {}): Promise<NetStep[]> {
  const attempt = async (full: boolean): Promise<NetStep[]> => {
    const t0 = performance.now();
    const observed = await observer.observe(desired.hostNetns, desired.prefix, { full });
    const t1 = performance.now();
    const steps = planNetwork(desired, observed, policyFor);
    const t2 = performance.now();
    try {
      await applyNetwork(steps);
    } catch (e) {
      observer.invalidate();
      throw e;
    }
    observer.applied(steps);
    if (opts.marks) Object.assign(opts.marks, { observe: t1 - t0, plan: t2 - t1, apply: performance.now() - t2 });
    return steps;
  };
  if (opts.full) return attempt(true);
  try {
    return await attempt(false);
  } catch {
    return attempt(true);
  }
}
