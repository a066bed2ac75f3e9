// Reads the actual network state of one host: its instance and router namespaces, their links,
// addresses, routes and forwarding sysctls, and each router's `inet eci` table. Read-only.
//
// Cost: per namespace one `ip -j -batch -` (links, addresses, routes); per
// router one `nft -j list table` and one sysctl read. A namespace that disappears while being read is
// reported as absent rather than failing the whole observation.

import { ExecError, json, listNetns, run, shell } from './exec.ts';
import { NFT_TABLE, type Elements } from './render.ts';
import { SG_MARK_PREFIX } from './security-groups.ts';
import type { NetOp, NetStep } from './plan.ts';

export interface ObservedLink {
  readonly ifname: string;
  readonly up: boolean;
  readonly alias: string;
  /** IPv4 addresses as `a.b.c.d/len`. */
  readonly addrs: readonly string[];
}

export interface ObservedRoute {
  /** `default` or `a.b.c.d` / `a.b.c.d/len` as ip prints it. */
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
}

export interface ObservedNft {
  /** Chain, set and map names present. */
  readonly objects: readonly string[];
  /** The comment of the `fp` chain's rule (`fp:<hash>`), or ''. */
  readonly fingerprint: string;
  /** Elements of every set and map present, by name (see `part` for the rendering). */
  readonly elements: Elements;
  /** Chain name → the security-group content mark (`sg:<hash>`) its rules carry (markSgChains). */
  readonly marks?: Readonly<Record<string, string>>;
  /** Chain name → its number of rules. */
  readonly ruleCounts?: Readonly<Record<string, number>>;
}

export interface ObservedNetns {
  readonly name: string | null;
  readonly links: readonly ObservedLink[];
  readonly routes: readonly ObservedRoute[];
  /** `/proc/sys/net/ipv4/...` relative paths → value, for routers only (ip_forward, conf/<if>/proxy_arp, neigh/<if>/proxy_delay). */
  readonly sysctls: Readonly<Record<string, string>>;
  /** For routers only; null when the table does not exist. */
  readonly nft?: ObservedNft | null;
}

export interface ObservedHost {
  /** The host netns as observed (null name: the agent's own namespace). Absent when it does not exist. */
  readonly host?: ObservedNetns;
  /** The host's instance and router namespaces (`<prefix>eci-…`, `<prefix>vpcr-…`), by name. */
  readonly netns: ReadonlyMap<string, ObservedNetns>;
}

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  ifalias?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/**
 * `ip -j link`, `ip -j addr` and `ip -j route` of one namespace in one spawn. Aliases come from the
 * link dump: iproute2 6.1's `addr show` omits `ifalias` for a veth whose peer is in another namespace.
 */
export async function observeLinks(netns: string | null): Promise<{ links: ObservedLink[]; routes: ObservedRoute[] }> {
  const { stdout } = await run(['ip', '-j', '-batch', '-'], { netns, input: 'link show\naddr show\nroute show\n' });
  const [linkText, addrText, routeText] = stdout.split('\n').filter((l) => l.trim());
  const links = JSON.parse(linkText ?? '[]') as IpAddrJson[];
  const addrs = new Map((JSON.parse(addrText ?? '[]') as IpAddrJson[]).map((a) => [a.ifname, a.addr_info ?? []]));
  const routes = JSON.parse(routeText ?? '[]') as { dst: string; gateway?: string; dev?: string }[];
  return {
    links: links.map((a) => ({
      ifname: a.ifname,
      up: (a.flags ?? []).includes('UP'),
      alias: a.ifalias ?? '',
      addrs: (addrs.get(a.ifname) ?? []).filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`),
    })),
    routes: routes.map((r) => ({ dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}) })),
  };
}

/** ip_forward, and every interface's proxy_arp and proxy_delay, of a namespace. */
export async function observeSysctls(netns: string | null): Promise<Record<string, string>> {
  // In the router's long-lived sh (exec.ts sessions): read every pass. A subshell, so the session
  // keeps its working directory.
  const stdout = await shell(netns, '(cd /proc/sys/net/ipv4 && grep -H . ip_forward conf/*/proxy_arp neigh/*/proxy_delay 2>/dev/null); true', { session: true });
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

type NftJsonPart = string | number | { concat: NftJsonPart[] } | { prefix: { addr: string; len: number } } | { range: [string, string] } | Record<string, unknown>;

/**
 * One key or value as render.ts writes it: addresses, numbers, protocols and classids bare, other
 * strings (interface names) quoted, concatenations joined by ` . `. Verdicts and anything else are
 * kept as JSON (never compared with desired state).
 */
function part(p: NftJsonPart): string {
  if (typeof p === 'number') return String(p);
  if (typeof p === 'string') return /^[0-9.]+$/.test(p) || /^[0-9a-f]+:[0-9a-f]+$/.test(p) || p === 'tcp' || p === 'udp' ? p : `"${p}"`;
  if (Array.isArray((p as { concat?: unknown }).concat)) return (p as { concat: NftJsonPart[] }).concat.map(part).join(' . ');
  const prefix = (p as { prefix?: { addr: string; len: number } }).prefix;
  if (prefix) return `${prefix.addr}/${prefix.len}`;
  const range = (p as { range?: [string, string] }).range;
  if (range) return `${range[0]}-${range[1]}`;
  return JSON.stringify(p);
}

/** The `inet eci` table of a namespace, or null when absent. */
export async function observeNft(netns: string | null): Promise<ObservedNft | null> {
  let doc: { nftables: Record<string, any>[] };
  try {
    doc = await json(netns, ['nft', '-j', 'list', 'table', 'inet', NFT_TABLE]);
  } catch (e) {
    if (e instanceof ExecError && /No such file or directory/.test(e.stderr)) return null;
    throw e;
  }
  const objects: string[] = [];
  let fingerprint = '';
  const elements: Elements = {};
  const marks: Record<string, string> = {};
  const ruleCounts: Record<string, number> = {};
  for (const item of doc.nftables ?? []) {
    const obj = item.chain ?? item.set ?? item.map;
    if (obj) {
      objects.push(obj.name);
      if (item.set || item.map) {
        const m = (elements[obj.name] = new Map<string, string>());
        for (const el of (obj.elem ?? []) as (NftJsonPart | [NftJsonPart, NftJsonPart])[]) {
          if (Array.isArray(el)) m.set(part(el[0]), part(el[1]));
          else m.set(part(el), '');
        }
      }
    }
    if (item.rule && item.rule.chain === 'fp' && typeof item.rule.comment === 'string') fingerprint = item.rule.comment;
    if (item.rule) ruleCounts[item.rule.chain] = (ruleCounts[item.rule.chain] ?? 0) + 1;
    if (item.rule && typeof item.rule.comment === 'string' && item.rule.comment.startsWith(SG_MARK_PREFIX)) marks[item.rule.chain] = item.rule.comment;
  }
  return { objects: objects.sort(), fingerprint, elements, marks, ruleCounts };
}

const isGone = (e: unknown) => e instanceof ExecError && /No such file|does not exist|Invalid argument|setns/i.test(e.stderr);

/**
 * Observes the host: its host netns (null = own namespace; a named one that does not exist is
 * reported absent) and its instance and router namespaces (`<prefix>eci-…`, `<prefix>vpcr-…`); the
 * routers' nft tables and sysctls are read too.
 */
export async function observeHost(hostNetns: string | null, prefix: string): Promise<ObservedHost> {
  const names = await listNetns();
  // Only what the planner reads: instance and router namespaces (an Internet client of a test, say,
  // carries the prefix too; observing it would cost a spawn per pass for nothing).
  const mine = names.filter((n) => isMine(n, prefix, hostNetns));
  // The host netns is read alongside the others (one spawn each, all in parallel).
  const [host, observed] = await Promise.all([readHost(hostNetns, names), Promise.all(mine.map((n) => readNetns(n, prefix)))]);
  const netns = new Map<string, ObservedNetns>();
  for (const o of observed) if (o && o.name) netns.set(o.name, o);
  return { ...(host ? { host } : {}), netns };
}

/** Instance and router namespaces of this host (`<prefix>eci-…`, `<prefix>vpcr-…`), never the host netns. */
const isMine = (n: string, prefix: string, hostNetns: string | null): boolean => (n.startsWith(`${prefix}eci-`) || n.startsWith(`${prefix}vpcr-`)) && n !== hostNetns;

/** The host netns (null: the agent's own), or undefined when a named one is not among `names`. */
async function readHost(hostNetns: string | null, names: readonly string[]): Promise<ObservedNetns | undefined> {
  return hostNetns === null || names.includes(hostNetns) ? { name: hostNetns, ...(await observeLinks(hostNetns)), sysctls: {} } : undefined;
}

/** One instance or router namespace; undefined when it vanished while being read. */
async function readNetns(name: string, prefix: string): Promise<ObservedNetns | undefined> {
  try {
    const router = name.startsWith(`${prefix}vpcr-`);
    const [l, sysctls, nft] = await Promise.all([
      observeLinks(name),
      router ? observeSysctls(name) : Promise.resolve({}),
      router ? observeNft(name) : Promise.resolve(undefined),
    ]);
    return { name, ...l, sysctls, ...(router ? { nft } : {}) };
  } catch (e) {
    if (isGone(e)) return undefined;
    throw e;
  }
}

/** The namespaces a step can change: the one it runs in, and any it names (`… netns <name>`, netns add/del). */
function touchedBy(op: NetOp, into: Set<string | null>): void {
  if (op.type === 'netnsAdd' || op.type === 'netnsDel') {
    into.add(op.name);
    return;
  }
  into.add(op.netns);
  if (op.type === 'ip') for (const line of op.lines) for (const m of line.matchAll(/\bnetns (?:(?:add|del|delete) )?([^\s]+)/g)) into.add(m[1]);
}

/** How long after an apply the namespaces it touched are re-read, unless a pass needs them sooner. */
const REFRESH_DELAY_MS = 100;

/**
 * What the network planner last saw of the host, kept between passes, so a pass that creates one
 * instance does not first re-read every namespace of the host (about 20 ms with one router, growing
 * with the host's instances) — the partial-sync scheme kube-proxy uses for its rules.
 *
 * Contracts:
 * - `observe({full: true})` (the agent's periodic resync, and the first pass) reads the whole host as
 *   `observeHost` does, so drift made by anyone else is seen within one resync.
 * - Between resyncs, `observe()` lists the host's namespaces (one directory read) and reads only those
 *   it has not seen: a namespace that appeared is read, one that vanished is dropped.
 * - `applied(steps)` is called after every apply that ran steps; every namespace those steps ran in or
 *   named is re-read (shortly after, or by the next `observe`, which waits for it), so the next pass
 *   plans from what the kernel now holds, not from what the steps meant to do.
 * - `invalidate()` (after a failed apply, or anything unknown) makes the next observe a full one.
 * - One caller at a time (the agent's pass loop); the result must not be mutated.
 */
export class HostObserver {
  /** What the cache was read for. */
  #hostNetns: string | null = null;
  #prefix = '';
  #host: ObservedNetns | undefined;
  #netns = new Map<string, ObservedNetns>();
  #valid = false;
  /** Namespaces changed by applied steps and not re-read yet (null: the agent's own namespace). */
  #touched = new Set<string | null>();
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #refresh: Promise<void> | undefined;

  async observe(hostNetns: string | null, prefix: string, opts: { full?: boolean } = {}): Promise<ObservedHost> {
    if (opts.full || hostNetns !== this.#hostNetns || prefix !== this.#prefix) this.invalidate();
    await this.#startRefresh();
    if (!this.#valid) {
      const o = await observeHost(hostNetns, prefix);
      this.#hostNetns = hostNetns;
      this.#prefix = prefix;
      this.#host = o.host;
      this.#netns = new Map(o.netns);
      this.#valid = true;
      return o;
    }
    const names = await listNetns();
    const present = new Set(names);
    for (const n of [...this.#netns.keys()]) if (!present.has(n)) this.#netns.delete(n);
    if (hostNetns !== null && !present.has(hostNetns)) this.#host = undefined;
    const unseen = names.filter((n) => isMine(n, prefix, hostNetns) && !this.#netns.has(n));
    const hostUnseen = !this.#host && (hostNetns === null || present.has(hostNetns));
    if (unseen.length || hostUnseen)
      await this.#read(hostNetns, prefix, new Set<string | null>([...unseen, ...(hostUnseen ? [hostNetns] : [])])).catch((e: unknown) => {
        this.invalidate();
        throw e;
      });
    return { ...(this.#host ? { host: this.#host } : {}), netns: new Map(this.#netns) };
  }

  /**
   * Re-reads what `steps` touched, REFRESH_DELAY_MS later or when the next observe asks, whichever
   * comes first (the next observe waits for it). Not at once: right after a create's network the agent
   * starts its containers, and on a small host the re-read's spawns would compete with runc for the CPU.
   */
  applied(steps: readonly NetStep[]): void {
    if (!steps.length || !this.#valid) return;
    for (const s of steps) {
      touchedBy(s.op, this.#touched);
      if (s.fallback) touchedBy(s.fallback, this.#touched);
    }
    this.#refreshTimer ??= setTimeout(() => void this.#startRefresh(), REFRESH_DELAY_MS);
    this.#refreshTimer.unref();
  }

  /** Runs the pending re-read (if any) now; its promise settles when it is done (it never rejects). */
  #startRefresh(): Promise<void> {
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = undefined;
    if (!this.#touched.size) return this.#refresh ?? Promise.resolve();
    const touched = this.#touched;
    this.#touched = new Set();
    const previous = this.#refresh;
    this.#refresh = (async () => {
      await previous;
      await this.#read(this.#hostNetns, this.#prefix, touched);
    })().catch(() => this.invalidate());
    return this.#refresh;
  }

  /** Runs the pending re-read of `applied` now instead of later, and waits for it. */
  refreshNow(): Promise<void> {
    return this.#startRefresh();
  }

  invalidate(): void {
    this.#valid = false;
    this.#touched.clear();
  }

  /** Reads `which` (namespace names; null or the host netns name: the host), updating the cache. */
  async #read(hostNetns: string | null, prefix: string, which: ReadonlySet<string | null>): Promise<void> {
    const listed = await listNetns();
    const names = new Set(listed);
    const jobs: Promise<void>[] = [];
    for (const n of which) {
      if (n === hostNetns) {
        jobs.push(readHost(hostNetns, listed).then((o) => void (this.#host = o)));
      } else if (n !== null && isMine(n, prefix, hostNetns)) {
        if (!names.has(n)) {
          this.#netns.delete(n);
          continue;
        }
        jobs.push(
          readNetns(n, prefix).then((o) => {
            if (o) this.#netns.set(n, o);
            else this.#netns.delete(n);
          }),
        );
      }
    }
    await Promise.all(jobs);
  }
}
