// The benchmarks' cleanup registry: everything a run makes (processes, namespaces, mounts, directories) is
// registered as it is made and undone in reverse order, at the end, on failure, and on SIGINT/SIGTERM, so a
// benchmark never leaves anything behind on the machine.

import { writeFileSync } from 'node:fs';

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const cleanups: { what: string; fn: () => Promise<void> }[] = [];
let cleaning: Promise<void> | undefined;

/** Registers an undo step; steps run last-registered first. */
export function onCleanup(what: string, fn: () => Promise<void>): void {
  cleanups.push({ what, fn });
}

/** Runs every registered step once (a failing step is reported and the rest still run). */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const c = cleanups.pop()!;
      await c.fn().catch((e: unknown) => console.error(`cleanup ${c.what}: ${errorText(e)}`));
    }
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    console.error(`\n${sig}: cleaning up`);
    void cleanupAll().finally(() => process.exit(130));
  });

/**
 * Ends a run after cleanupAll: the leftover check (nothing of the run may remain), the report, and the
 * results file; the exit code is 1 when something remained.
 */
export async function finishRun(o: { results: Record<string, unknown>; file: string; started: number; leftovers: () => Promise<string[]>; report: () => void }): Promise<void> {
  const leftovers = await o.leftovers();
  o.results.leftovers = leftovers;
  o.results.totalSeconds = Math.round((Date.now() - o.started) / 100) / 10;
  o.report();
  writeFileSync(o.file, JSON.stringify(o.results, null, 2) + '\n');
  console.log(`\nwrote ${o.file} (${o.results.totalSeconds} s)`);
  if (leftovers.length) {
    console.error(`leftovers of this run:\n  ${leftovers.join('\n  ')}`);
    process.exitCode = 1;
  } else console.log('leftover check: nothing of this run remains');
}
