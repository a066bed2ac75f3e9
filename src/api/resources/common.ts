// Helpers shared by the action handlers: owned-resource lookups that answer the reference's NotFound
// codes (another account's resource is NotFound, never visible), tags, and paging.

import { ApiError, invalid, notFound } from '../../core/errors.ts';
import type { Tag } from '../../core/model.ts';
import type { CountCap, ListQuery, Resource, Tx } from '../../store/store.ts';

/** Returns the account's resource of this kind, or throws NotFound with `code`. */
export async function requireOwned<D>(tx: Tx, kind: string, account: string, id: string, code: string, what = kind): Promise<Resource<D>> {
  const r = id ? await tx.get<D>(kind, id) : undefined;
  if (!r || r.account !== account) throw notFound(code, `The specified ${what} "${id}" does not exist.`);
  return r;
}

export async function getOwned<D>(tx: Tx, kind: string, account: string, id: string): Promise<Resource<D> | undefined> {
  const r = id ? await tx.get<D>(kind, id) : undefined;
  return r && r.account === account ? r : undefined;
}

export function normalizeTags(tags: { Key: string; Value?: string }[] | undefined): Tag[] {
  const out: Tag[] = [];
  for (const t of tags ?? []) {
    if (out.some((x) => x.Key === t.Key)) throw invalid('InvalidTagKey.Duplicated', `The tag key "${t.Key}" is given more than once.`);
    if (/^(aliyun|acs:)/i.test(t.Key)) throw invalid('InvalidTagKey.Malformed', `The tag key "${t.Key}" may not start with aliyun or acs:.`);
    out.push({ Key: t.Key, Value: t.Value ?? '' });
  }
  return out;
}

/** True when the resource carries every requested tag (a tag without value matches any value). */
export function matchesTags(have: readonly Tag[], want: readonly { Key: string; Value?: string }[] | undefined): boolean {
  return (want ?? []).every((w) => have.some((h) => h.Key === w.Key && (w.Value === undefined || h.Value === w.Value)));
}

/** VPC-style wrapped tags: {"Tags":{"Tag":[…]}}. */
export const wrappedTags = (tags: readonly Tag[]) => ({ Tag: tags.map((t) => ({ Key: t.Key, Value: t.Value })) });

/**
 * Page-number paging (VPC/ECS style) over a filtered list. `filter` runs on the rows the SQL filter
 * returned; the whole account's set of this kind is read, which is bounded by the quotas.
 */
export async function pageByNumber<D>(
  tx: Tx,
  q: ListQuery,
  pageNumber: number | undefined,
  pageSize: number | undefined,
  filter: (r: Resource<D>) => boolean = () => true,
  maxPageSize = 100,
): Promise<{ items: Resource<D>[]; total: number; pageNumber: number; pageSize: number }> {
  const number = pageNumber ?? 1;
  const size = pageSize ?? 10;
  if (number < 1) throw invalid('InvalidPageNumber', 'PageNumber must be at least 1.');
  if (size < 1 || size > maxPageSize) throw invalid('InvalidPageSize', `PageSize must be between 1 and ${maxPageSize}.`);
  const rows = (await tx.list<D>(q)).filter(filter);
  return { items: rows.slice((number - 1) * size, number * size), total: rows.length, pageNumber: number, pageSize: size };
}

/** Checks a per-account count against a quota. */
export function checkQuota(tx: Tx, q: ListQuery, limit: number, code: string, what: string): Promise<void> {
  return checkCap(tx, q, quotaCap(limit, code, what));
}

/** Checks a per-account count against a cap (one that its insert will also be given, say). */
export async function checkCap(tx: Tx, q: ListQuery, cap: CountCap): Promise<void> {
  if ((await tx.count(q)) >= cap.max) throw cap.exceeded();
}

/** The same quota as a cap on Tx.insert: exact even among transactions that do not exclude each other. */
export function quotaCap(limit: number, code: string, what: string): CountCap {
  return { max: limit, exceeded: () => new ApiError('QuotaExceeded', code, `The quota of ${what} (${limit}) is exceeded.`) };
}
