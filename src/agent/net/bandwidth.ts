// Per-EIP bandwidth shaping, pure: tc batch lines (without the leading `tc`) and nft text.
//
// Each direction is shaped on the egress side of a veth end we own: upload on the router's uplink
// end (towards the host), download on the host's end (towards the router). On that device:
// - an HTB root qdisc `1:` with `default 0`: unclassified traffic (no EIP, SNAT) is sent unshaped;
// - per EIP a class `1:<minor>`, picked by nftables `meta priority set` (no tc filter: the classifiers
//   that would do it are missing on these hosts, and HTB honours skb->priority on its own);
// - under that class a `tbf` leaf at the EIP's limit. HTB only classifies (its class is far above the
//   limit): HTB limiting forwarded GRO-sized packets built up 150–450 ms of queueing at 5 Mbit/s, a tbf
//   leaf limits with tens of ms (DESIGN.md, kernel facts; see tbfBurst for the parameters);
// - a common bandwidth package is a parent HTB class with rate = ceil = the package's limit over its
//   EIPs' classes, whose own rate is small and ceil is their own limit: they borrow from the parent up
//   to their own limit, and the parent caps the total. Here HTB does limit (at the parent), which is
//   what a shared cap needs; measured 7.5–7.9 Mbit/s in total for an 8 Mbit/s package.
//
// Class minors: an EIP's minor is the low 16 bits of its address, so it is recomputable from the
// EIP alone and unique among the EIPs of one /16 pool; a collision (EIPs from pools that share their
// low 16 bits on one device) moves the higher address to the next free minor. A package's minor is
// a hash of its id, probed past taken minors. Minors are printed in hex, as tc and nft read them.
//
// A limit change is `class replace` + `qdisc replace` of one class and its leaf: constant time, the
// flow keeps running. Adding or removing an EIP is those two lines (or one `class del`) plus one
// element of the nft priority map.

import { createHash } from 'node:crypto';
import { parseIp } from '../../core/cidr.ts';

export const DEFAULT_EIP_MBIT = 5;
export const UPLOAD_PRIO_MAP = 'eip_prio_up';
export const DOWNLOAD_PRIO_MAP = 'eip_prio_down';

/** The HTB class rate meaning "HTB does not limit": far above any EIP limit. */
const UNLIMITED = '10gbit';
/** Rate of an EIP class inside a package: what it is guaranteed before borrowing from the parent. */
const PACKAGE_MEMBER_RATE = '100kbit';

export interface EipShape {
  /** The public address: the key of the priority maps. */
  readonly ip: string;
  /** Limit in Mbit/s (each direction). */
  readonly mbit: number;
  /** The common bandwidth package the EIP belongs to, or ''/undefined. */
  readonly packageId?: string;
}

export interface PackageShape {
  readonly id: string;
  readonly mbit: number;
}

export interface ShapeClass {
  readonly minor: number;
  /** Parent minor; 0 = the root qdisc. */
  readonly parent: number;
  readonly mbit: number;
  /** `eip` classes carry a tbf leaf at `mbit`; `package` classes cap their children at `mbit`. */
  readonly kind: 'eip' | 'package';
  /** The EIP address or the package id. */
  readonly key: string;
}

export interface ShapePlan {
  /** Packages first, then EIPs, each sorted by minor. */
  readonly classes: readonly ShapeClass[];
  /** EIP address → classid text (`1:7105`), the element values of the priority maps. */
  readonly prio: ReadonlyMap<string, string>;
}

const MAX_MINOR = 0xfffe;

/** The preferred minor of an EIP's class: the low 16 bits of its address (never 0). */
export function eipClassMinor(ip: string): number {
  const n = parseIp(ip);
  if (n === undefined) throw new Error(`not an IPv4 address: "${ip}"`);
  const low = n & 0xffff;
  return low === 0 || low > MAX_MINOR ? 1 + (low % MAX_MINOR) : low;
}

function packagePreferredMinor(id: string): number {
  return 1 + (createHash('sha256').update(id).digest().readUInt16BE(0) % MAX_MINOR);
}

function probe(preferred: number, taken: Set<number>): number {
  let m = preferred;
  for (let i = 0; i < MAX_MINOR; i++) {
    if (!taken.has(m)) {
      taken.add(m);
      return m;
    }
    m = m >= MAX_MINOR ? 1 : m + 1;
  }
  throw new Error('no free HTB class minor on this device');
}

export const hexMinor = (minor: number): string => minor.toString(16);
export const classId = (minor: number): string => `1:${hexMinor(minor)}`;

/**
 * The classes of one device. EIPs naming a package that is not listed are shaped alone. Deterministic:
 * the same EIPs and packages give the same plan whatever their order.
 */
export function planShaping(eips: readonly EipShape[], packages: readonly PackageShape[] = []): ShapePlan {
  const taken = new Set<number>();
  const byIp = [...new Map(eips.map((e) => [e.ip, e])).values()].sort((a, b) => (parseIp(a.ip) ?? 0) - (parseIp(b.ip) ?? 0));
  const eipMinor = new Map<string, number>();
  // Addresses whose preferred minor is free keep it; only colliding ones probe, in address order.
  const clash: EipShape[] = [];
  for (const e of byIp) {
    const m = eipClassMinor(e.ip);
    if (taken.has(m)) clash.push(e);
    else {
      taken.add(m);
      eipMinor.set(e.ip, m);
    }
  }
  for (const e of clash) eipMinor.set(e.ip, probe(eipClassMinor(e.ip), taken));
  const pkgMinor = new Map<string, number>();
  const used = new Set(byIp.map((e) => e.packageId ?? '').filter(Boolean));
  for (const p of [...packages].filter((p) => used.has(p.id)).sort((a, b) => (a.id < b.id ? -1 : 1))) {
    pkgMinor.set(p.id, probe(packagePreferredMinor(p.id), taken));
  }
  const pkgs: ShapeClass[] = packages
    .filter((p) => pkgMinor.has(p.id))
    .map((p) => ({ minor: pkgMinor.get(p.id) ?? 0, parent: 0, mbit: p.mbit, kind: 'package', key: p.id }));
  const classes: ShapeClass[] = byIp.map((e) => ({
    minor: eipMinor.get(e.ip) ?? 0,
    parent: (e.packageId && pkgMinor.get(e.packageId)) || 0,
    mbit: e.mbit,
    kind: 'eip',
    key: e.ip,
  }));
  const byMinor = (a: ShapeClass, b: ShapeClass) => a.minor - b.minor;
  return {
    classes: [...pkgs.sort(byMinor), ...classes.sort(byMinor)],
    prio: new Map(byIp.map((e) => [e.ip, classId(eipMinor.get(e.ip) ?? 0)])),
  };
}

/** A tc rate: integral kbit so that fractional Mbit/s limits stay exact. */
export function tcRate(mbit: number): string {
  return `${Math.max(8, Math.round(mbit * 1000))}kbit`;
}

/**
 * tbf burst in bytes: 5 ms at the rate, at least 30 000 (twenty full frames). With latency 40 ms,
 * measured at 5 Mbit/s with a 3 s TCP flow on a loaded 2-core host (8 runs each): burst 30 000 /
 * latency 40 ms gave 4.80–4.86 Mbit/s at ~35 ms mean RTT; burst 15 000 or latency 20 ms gave lower
 * RTT (16–30 ms) but occasional runs at 4.3–4.5 (a loss burst ending in a retransmission timeout),
 * outside the ±10% the limit must hold.
 */
export function tbfBurst(mbit: number): number {
  return Math.max(30000, Math.round((mbit * 1e6) / 8 / 200));
}

export const TBF_LATENCY = '40ms';

/** HTB burst for a package class: 10 ms at the rate, at least 30 000 (1 600 undershot by ~7%). */
function htbBurst(mbit: number): number {
  return Math.max(30000, Math.round((mbit * 1e6) / 8 / 100));
}

/**
 * The root qdisc, for a device without one: `replace` of an existing HTB root is refused ("change operation
 * not supported"), and `add` fails, changing nothing, when a root is there (the shaper then lists the device).
 */
export function renderShapingRoot(dev: string, verb: 'replace' | 'add' = 'replace'): string[] {
  return [`qdisc ${verb} dev ${dev} root handle 1: htb default 0`];
}

/** A package's parent class (add or live change): rate = ceil = the package limit. */
export function renderPackageClass(dev: string, c: { minor: number; mbit: number }): string[] {
  const b = htbBurst(c.mbit);
  return [`class replace dev ${dev} parent 1: classid ${classId(c.minor)} htb rate ${tcRate(c.mbit)} ceil ${tcRate(c.mbit)} burst ${b} cburst ${b} quantum 1514`];
}

/**
 * One EIP's class and its tbf leaf, to add it or change its limit live (both lines are `replace`).
 * `parent` 0 = alone under the root; else the minor of its package class.
 */
export function renderEipClass(dev: string, c: { minor: number; parent: number; mbit: number }): string[] {
  const id = classId(c.minor);
  const htb =
    c.parent === 0
      ? `class replace dev ${dev} parent 1: classid ${id} htb rate ${UNLIMITED} ceil ${UNLIMITED} quantum 60000`
      : `class replace dev ${dev} parent ${classId(c.parent)} classid ${id} htb rate ${PACKAGE_MEMBER_RATE} ceil ${tcRate(c.mbit)} burst 30000 cburst 30000 quantum 1514`;
  return [htb, `qdisc replace dev ${dev} parent ${id} tbf rate ${tcRate(c.mbit)} burst ${tbfBurst(c.mbit)} latency ${TBF_LATENCY}`];
}

/** Removes a class (an EIP's takes its tbf leaf with it; a package's must have no children left). */
export function renderClassDelete(dev: string, minor: number): string[] {
  return [`class del dev ${dev} classid ${classId(minor)}`];
}

/** Every class of a plan, for a device that has just the root qdisc. */
export function renderShapingClasses(dev: string, plan: ShapePlan): string[] {
  return plan.classes.flatMap((c) => (c.kind === 'package' ? renderPackageClass(dev, c) : renderEipClass(dev, c)));
}

/**
 * tc lines taking a device from `prev` to `next`: classes that are gone or must move to another parent
 * are deleted (children before their package), new and changed ones replaced (packages before their
 * children). Unchanged classes are not touched, so their flows and queues carry on.
 */
export function renderShapingDelta(dev: string, prev: ShapePlan, next: ShapePlan): string[] {
  const key = (c: ShapeClass) => `${c.kind}:${c.key}`;
  const before = new Map(prev.classes.map((c) => [key(c), c]));
  const after = new Map(next.classes.map((c) => [key(c), c]));
  const moved = (a: ShapeClass, b: ShapeClass) => a.minor !== b.minor || a.parent !== b.parent;
  const del: ShapeClass[] = [];
  for (const [k, c] of before) {
    const n = after.get(k);
    if (!n || moved(c, n)) del.push(c);
  }
  const out: string[] = [];
  for (const c of del.filter((c) => c.kind === 'eip')) out.push(...renderClassDelete(dev, c.minor));
  for (const c of del.filter((c) => c.kind === 'package')) out.push(...renderClassDelete(dev, c.minor));
  for (const c of next.classes) {
    const b = before.get(key(c));
    if (b && !moved(b, c) && b.mbit === c.mbit) continue;
    out.push(...(c.kind === 'package' ? renderPackageClass(dev, c) : renderEipClass(dev, c)));
  }
  return out;
}

/**
 * A priority map declaration for inside `table inet eci { … }`: UPLOAD_PRIO_MAP in the router
 * namespace, DOWNLOAD_PRIO_MAP in the host namespace, with the plan's elements when given.
 */
export function renderPrioMap(map: string, plan?: ShapePlan): string {
  const els = plan && plan.prio.size ? ` elements = { ${[...plan.prio].map(([ip, id]) => `${ip} : ${id}`).join(', ')} };` : '';
  return `map ${map} { type ipv4_addr : classid;${els} }\n`;
}

/**
 * The classifying statement. Upload: in the router namespace, in a postrouting chain that runs after
 * the EIP SNAT (priority > srcnat), so the source is already the EIP. Download: in the host namespace,
 * where the destination is still the EIP. An address not in the map leaves the priority alone.
 */
export function renderPrioStatement(direction: 'up' | 'down', dev: string): string {
  return direction === 'up'
    ? `oifname "${dev}" meta priority set ip saddr map @${UPLOAD_PRIO_MAP}`
    : `oifname "${dev}" meta priority set ip daddr map @${DOWNLOAD_PRIO_MAP}`;
}

/** nft lines updating one priority map from `prev` to `next` (one element per EIP added, removed or moved). */
export function renderPrioDelta(map: string, prev: ShapePlan, next: ShapePlan, table = 'inet eci'): string {
  const out: string[] = [];
  const del = [...prev.prio].filter(([ip, id]) => next.prio.get(ip) !== id).map(([ip]) => ip);
  const add = [...next.prio].filter(([ip, id]) => prev.prio.get(ip) !== id);
  if (del.length) out.push(`delete element ${table} ${map} { ${del.join(', ')} }`);
  if (add.length) out.push(`add element ${table} ${map} { ${add.map(([ip, id]) => `${ip} : ${id}`).join(', ')} }`);
  return out.length ? out.join('\n') + '\n' : '';
}
