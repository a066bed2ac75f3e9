// NAT gateway rules that need no store: DNAT port and protocol syntax, DNAT clash detection, SNAT
// scope clashes. Pure; every function returns a verdict and leaves the error code to the API layer
// (src/api/resources/nat.ts), so the same rules can serve the agent's renderer and table tests.

import { parseCidr, type Cidr } from './cidr.ts';

/** A DNAT port: one port or an inclusive range (`80` is {from: 80, to: 80}), or every port (IP mapping). */
export type NatPort = { readonly any: true } | { readonly any: false; readonly from: number; readonly to: number };

export type NatProtocol = 'tcp' | 'udp' | 'any';

const PORT = /^[1-9]\d{0,4}$/;

/**
 * Parses a DNAT port as the reference writes it: `80`, a range `1000/1010`, or `Any` (any case).
 * Ports are 1–65535; a range runs upwards (`80/80` is one port). Undefined when malformed.
 */
export function parseNatPort(text: string): NatPort | undefined {
  if (text.toLowerCase() === 'any') return { any: true };
  const parts = text.split('/');
  if (parts.length > 2 || !parts.every((x) => PORT.test(x))) return undefined;
  const [from, to] = [Number(parts[0]), Number(parts[parts.length - 1])];
  if (from > 65535 || to > 65535 || from > to) return undefined;
  return { any: false, from, to };
}

/** The stored and answered form: `any`, `80`, or `1000/1010`. */
export function formatNatPort(p: NatPort): string {
  if (p.any) return 'any';
  return p.from === p.to ? String(p.from) : `${p.from}/${p.to}`;
}

/** `TCP`, `UDP`, `Any` in any case; stored lower case, as the reference answers. */
export function parseNatProtocol(text: string): NatProtocol | undefined {
  const v = text.toLowerCase();
  return v === 'tcp' || v === 'udp' || v === 'any' ? v : undefined;
}

const width = (p: NatPort): number => (p.any ? 65535 : p.to - p.from + 1);

export interface PortProblem {
  readonly field: 'ExternalPort' | 'InternalPort';
  readonly reason: string;
}

/**
 * Checks a DNAT entry's ports against its protocol: `any` (IP mapping) takes `Any` on both sides and
 * nothing else does; an external range maps onto an internal range of the same width, a single port
 * onto a single port.
 */
export function checkForwardPorts(protocol: NatProtocol, external: NatPort, internal: NatPort): PortProblem | undefined {
  if (protocol === 'any') {
    if (!external.any) return { field: 'ExternalPort', reason: 'with IpProtocol Any (IP mapping) ExternalPort must be Any' };
    if (!internal.any) return { field: 'InternalPort', reason: 'with IpProtocol Any (IP mapping) InternalPort must be Any' };
    return undefined;
  }
  if (external.any) return { field: 'ExternalPort', reason: 'Any is only valid with IpProtocol Any' };
  if (internal.any) return { field: 'InternalPort', reason: 'Any is only valid with IpProtocol Any' };
  if (width(external) !== width(internal))
    return {
      field: 'InternalPort',
      reason: `it covers ${width(internal)} port(s) while ExternalPort covers ${width(external)}; a range maps onto a range of the same size`,
    };
  return undefined;
}

export function portsOverlap(a: NatPort, b: NatPort): boolean {
  if (a.any || b.any) return true;
  return a.from <= b.to && b.from <= a.to;
}

export function protocolsOverlap(a: NatProtocol, b: NatProtocol): boolean {
  return a === 'any' || b === 'any' || a === b;
}

export interface DnatRule {
  readonly id: string;
  readonly externalIp: string;
  readonly externalPort: NatPort;
  readonly internalIp: string;
  readonly internalPort: NatPort;
  readonly protocol: NatProtocol;
}

/**
 * Why a DNAT entry cannot join a table:
 * - `ipMapped`: the external IP is (or would become) IP-mapped, which excludes every other DNAT entry on it;
 * - `external`: another entry already forwards an overlapping (ExternalIp, port, protocol);
 * - `internal`: another entry already targets an overlapping (InternalIp, port, protocol), so replies
 *   could not be attributed to one external address.
 */
export type DnatClash = { readonly kind: 'ipMapped' | 'external' | 'internal'; readonly with: string };

/** The first clash of `candidate` with `existing` (an entry with the candidate's id is itself, skipped). */
export function findDnatClash(existing: readonly DnatRule[], candidate: DnatRule): DnatClash | undefined {
  for (const e of existing) {
    if (e.id === candidate.id) continue;
    if (e.externalIp === candidate.externalIp) {
      if (e.protocol === 'any' || candidate.protocol === 'any') return { kind: 'ipMapped', with: e.id };
      if (protocolsOverlap(e.protocol, candidate.protocol) && portsOverlap(e.externalPort, candidate.externalPort))
        return { kind: 'external', with: e.id };
    }
    if (
      e.internalIp === candidate.internalIp &&
      protocolsOverlap(e.protocol, candidate.protocol) &&
      portsOverlap(e.internalPort, candidate.internalPort)
    )
      return { kind: 'internal', with: e.id };
  }
  return undefined;
}

/** The source scope of a SNAT entry: a vSwitch (with its CIDR) or a custom CIDR. */
export interface SnatScope {
  readonly id: string;
  /** '' for a CIDR scope. */
  readonly vSwitchId: string;
  readonly cidr: Cidr;
}

export type SnatClash = { readonly kind: 'vSwitch' | 'cidr'; readonly with: string };

/**
 * A vSwitch may be the source of one SNAT entry only, and a CIDR likewise; a CIDR equal to a scoped
 * vSwitch's CIDR is that vSwitch again. Nested scopes (a VPC-wide entry plus per-vSwitch or per-host
 * entries) are allowed: the most specific one wins, as in the reference.
 */
export function findSnatClash(existing: readonly SnatScope[], candidate: SnatScope): SnatClash | undefined {
  for (const e of existing) {
    if (e.id === candidate.id) continue;
    const sameVSwitch = candidate.vSwitchId !== '' && e.vSwitchId === candidate.vSwitchId;
    const sameCidr = e.cidr.network === candidate.cidr.network && e.cidr.prefix === candidate.cidr.prefix;
    if (sameVSwitch || sameCidr) return { kind: candidate.vSwitchId ? 'vSwitch' : 'cidr', with: e.id };
  }
  return undefined;
}

/** A SNAT source CIDR: `a.b.c.d/n` with host bits clear, or a bare address meaning `/32`. */
export function parseSnatSource(text: string): Cidr | undefined {
  return parseCidr(text.includes('/') ? text : `${text}/32`);
}
