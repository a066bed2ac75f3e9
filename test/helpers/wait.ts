// Polling for tests that wait on asynchronous convergence (controllers, the host agent).
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls fn every stepMs until it returns a value other than undefined, and returns that value. Errors
 * thrown by fn count as "not yet"; when timeoutMs passes, it throws naming `what` and the last error.
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000, stepMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
    await sleep(stepMs);
  }
}
