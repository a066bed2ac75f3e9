// The image-cache controller: an image cache past its ExpireDateTime (RetentionDays) is removed from the
// store, with its events. Expiry already applies at read time (Describe, AutoMatchImageCache and the
// agents treat an expired cache as gone, and the agents release its images), and CreateImageCache purges
// the account's expired caches before counting its quota; this pass makes the rows go too, whoever
// never creates another cache.
//
// Level-based and safe on several servers: each cache is re-read and deleted in its own transaction, so
// one that was just re-timed (UpdateImageCache with a new RetentionDays) is kept.

import { isExpired } from '../core/image-cache.ts';
import { KIND, type ImageCacheData } from '../core/model.ts';
import { rfc3339 } from '../core/time.ts';
import type { Store } from '../store/store.ts';
import type { Controller, ControllerDeps } from './index.ts';

/** Deletes every expired image cache (all accounts and regions); answers the ids removed. */
export async function purgeExpiredImageCaches(store: Store, now: Date): Promise<string[]> {
  const nowText = rfc3339(now);
  const removed: string[] = [];
  for (const c of await store.list<ImageCacheData>({ kind: KIND.imageCache })) {
    if (!isExpired(c.data, nowText)) continue;
    const gone = await store.tx(async (tx) => {
      const fresh = await tx.get<ImageCacheData>(KIND.imageCache, c.id);
      if (!fresh || !isExpired(fresh.data, nowText)) return false;
      await tx.deleteEvents(fresh.id);
      await tx.delete(KIND.imageCache, fresh.id);
      return true;
    });
    if (gone) removed.push(c.id);
  }
  return removed;
}

export function imageCacheController(deps: ControllerDeps, opts: { intervalMs?: number } = {}): Controller {
  return {
    name: 'image-caches',
    // Expiry is in whole days; a minute's delay in removing the row changes nothing a user can see.
    intervalMs: opts.intervalMs ?? 60_000,
    reconcile: async (now) => {
      await purgeExpiredImageCaches(deps.store, now);
    },
  };
}
