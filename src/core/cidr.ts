// IPv4 and CIDR arithmetic on unsigned 32-bit integers. Pure; every function throws nothing and
// returns undefined for malformed input so callers choose the error code.

export interface Cidr {
  readonly network: number; // first address, host bits cleared
  readonly prefix: number; // 0..32
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function parseIp(text: string): number | undefined {
  if (!IPV4.test(text)) return undefined;
  const [a, b, c, d] = text.split('.').map(Number);
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
}

export function formatIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/len`. With `strict`, host bits must be zero (as the reference requires of VPC CIDRs). */
export function parseCidr(text: string, strict = true): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (ip === undefined || !/^\d{1,2}$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > 32) return undefined;
  const network = (ip & maskOf(prefix)) >>> 0;
  if (strict && network !== ip) return undefined;
  return { network, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.network)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function lastAddress(c: Cidr): number {
  return c.network + size(c) - 1;
}

export function contains(outer: Cidr, ip: number): boolean {
  return ((ip & maskOf(outer.prefix)) >>> 0) === outer.network;
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.network);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return containsCidr(a, b) || containsCidr(b, a);
}

/** The private ranges a VPC CIDR must fall in (RFC 1918), as the reference requires. */
export const PRIVATE_RANGES: readonly Cidr[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map(
  (t) => parseCidr(t)!,
);

/**
 * The addresses IPAM may hand out in a vSwitch: the reference reserves the network address and the
 * last three; OpenECI's router also takes network+1 as the gateway, answering ARP for it.
 */
export function vSwitchUsableRange(c: Cidr): { first: number; last: number; gateway: number } {
  return { first: c.network + 2, last: lastAddress(c) - 3, gateway: c.network + 1 };
}

/** The addresses of a public pool block an EIP may take: all but the network and broadcast of blocks wider than /31. */
export function poolUsableRange(c: Cidr): { first: number; last: number } {
  if (c.prefix >= 31) return { first: c.network, last: lastAddress(c) };
  return { first: c.network + 1, last: lastAddress(c) - 1 };
}
