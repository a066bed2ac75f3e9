// Resource identifiers in the reference cloud's shape: a product prefix, a dash, then 20 characters of
// lowercase base-32 (e.g. `eci-2ze3x9…`, `eip-bp1…`). Randomness is injected so that tests can be
// deterministic; production passes crypto.randomBytes.

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export type RandomBytes = (n: number) => Uint8Array;

export const ID_PREFIXES = {
  containerGroup: 'eci',
  vpc: 'vpc',
  vRouter: 'vrt',
  routeTable: 'vtb',
  vSwitch: 'vsw',
  eip: 'eip',
  natGateway: 'ngw',
  snatTable: 'stb',
  forwardTable: 'ftb',
  snatEntry: 'snat',
  forwardEntry: 'fwd',
  bandwidthPackage: 'cbwp',
  ipPool: 'pippool',
  securityGroup: 'sg',
  eni: 'eni',
  host: 'host',
  imageCache: 'imc',
  securityGroupRule: 'sgr',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind, random: RandomBytes): string {
  const bytes = random(20);
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return `${ID_PREFIXES[kind]}-${out}`;
}

/** A request id in the reference's shape: an upper-case UUID. */
export function newRequestId(random: RandomBytes): string {
  const h = Buffer.from(random(16)).toString('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
