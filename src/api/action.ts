// What an API action is: one file per action under src/api/actions/<product>/, named as on the wire.
// Each declares its parameter schema, whether it mutates, and a handler. The pipeline in
// src/api/handler.ts authenticates, parses, runs mutating handlers inside one store transaction
// (with ClientToken idempotency and DryRun handled there), and wraps the result in the envelope.

import type { ServerConfig } from '../core/config.ts';
import type { RandomBytes } from '../core/ids.ts';
import type { Fields, InferFields } from '../core/params.ts';
import type { Store, Tx } from '../store/store.ts';

export const PRODUCTS = {
  eci: { version: '2018-08-08', title: 'Eci' },
  vpc: { version: '2016-04-28', title: 'Vpc' },
  ecs: { version: '2014-05-26', title: 'Ecs' },
} as const;
export type Product = keyof typeof PRODUCTS;

export interface ActionContext {
  readonly account: string;
  readonly requestId: string;
  readonly now: Date;
  /** RFC 3339 UTC, second precision, as the reference prints times. */
  readonly nowText: string;
  readonly config: ServerConfig;
  readonly random: RandomBytes;
  /** The transaction of a mutating action; the store itself (reads) otherwise. */
  readonly tx: Tx;
  readonly store: Store;
}

export interface ActionDef<F extends Fields = Fields> {
  readonly product: Product;
  readonly name: string;
  readonly params: F;
  /** Mutating actions run in one transaction, honour ClientToken and DryRun. */
  readonly mutating: boolean;
  readonly summary: string;
  /**
   * A mutating action's transaction holds its account's lock (Store.tx), exclusively unless this says
   * the request may share it with the other requests that share it. Only for a request whose rules
   * hold among such requests without the lock: what it checks then writes is guarded in the store
   * itself (a quota by Tx.insert's cap, addresses by IPAM, the ClientToken by its reservation), and
   * it changes no existing row (those are written under the exclusive lock, which still excludes it).
   */
  sharedAccountLock?(params: InferFields<F>): boolean;
  handler(ctx: ActionContext, params: InferFields<F>): Promise<Record<string, unknown>>;
}

/** The key of a rendered result (renderedResult). */
export const RENDERED: unique symbol = Symbol('rendered');

/**
 * A READ-ONLY action's result given already as JSON: the members of its answer's object after
 * RequestId (`"TotalCount":1,"ContainerGroups":[…]`), for an action that renders parts of it from a
 * cache. The pipeline writes it as it is.
 */
export function renderedResult(members: string): Record<string, unknown> {
  return { [RENDERED]: members };
}

export function defineAction<const F extends Fields>(def: ActionDef<F>): ActionDef<F> {
  return def;
}

/** Every action, however typed, as the registry holds it. */
export type AnyAction = ActionDef<any>;
