// Table tests of the pure NAT rules: DNAT port syntax, port/protocol consistency, DNAT clashes, SNAT scopes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr, parseCidr } from '../../src/core/cidr.ts';
import {
  checkForwardPorts,
  findDnatClash,
  findSnatClash,
  formatNatPort,
  parseNatPort,
  parseNatProtocol,
  parseSnatSource,
  portsOverlap,
  type DnatRule,
  type NatPort,
  type NatProtocol,
  type SnatScope,
} from '../../src/core/nat.ts';

const port = (t: string): NatPort => {
  const p = parseNatPort(t);
  assert.ok(p, `test port "${t}" must parse`);
  return p;
};

describe('parseNatPort / formatNatPort', () => {
  const good: [string, string][] = [
    ['80', '80'],
    ['1', '1'],
    ['65535', '65535'],
    ['1000/1010', '1000/1010'],
    ['80/80', '80'],
    ['1/65535', '1/65535'],
    ['Any', 'any'],
    ['any', 'any'],
    ['ANY', 'any'],
  ];
  for (const [text, formatted] of good)
    it(`accepts ${text} as ${formatted}`, () => assert.equal(formatNatPort(port(text)), formatted));

  const bad = ['', '0', '65536', '080', '-1', '10/5', '10/', '/10', '1/2/3', '10-20', ' 80', '80 ', 'http', '1e3', '99999', '0/10', '10/70000'];
  for (const text of bad) it(`refuses "${text}"`, () => assert.equal(parseNatPort(text), undefined));

  it('parses a range into its bounds', () => assert.deepEqual(parseNatPort('1000/1010'), { any: false, from: 1000, to: 1010 }));
});

describe('parseNatProtocol', () => {
  const cases: [string, NatProtocol | undefined][] = [
    ['TCP', 'tcp'],
    ['tcp', 'tcp'],
    ['Udp', 'udp'],
    ['Any', 'any'],
    ['ALL', undefined],
    ['icmp', undefined],
    ['', undefined],
  ];
  for (const [text, want] of cases) it(`${JSON.stringify(text)} → ${want}`, () => assert.equal(parseNatProtocol(text), want));
});

describe('checkForwardPorts', () => {
  const cases: [NatProtocol, string, string, 'ExternalPort' | 'InternalPort' | undefined][] = [
    ['tcp', '80', '8080', undefined],
    ['udp', '53', '53', undefined],
    ['tcp', '1000/1010', '2000/2010', undefined],
    ['tcp', '1000/1010', '2000/2009', 'InternalPort'], // a range maps onto one of the same size
    ['tcp', '1000/1010', '2000', 'InternalPort'],
    ['tcp', '80', '8080/8081', 'InternalPort'],
    ['any', 'any', 'any', undefined], // IP mapping
    ['any', '80', 'any', 'ExternalPort'],
    ['any', 'any', '80', 'InternalPort'],
    ['tcp', 'any', 'any', 'ExternalPort'],
    ['udp', '80', 'any', 'InternalPort'],
  ];
  for (const [protocol, ext, int, field] of cases)
    it(`${protocol} ${ext} → ${int}: ${field ?? 'ok'}`, () => assert.equal(checkForwardPorts(protocol, port(ext), port(int))?.field, field));
});

describe('portsOverlap', () => {
  const cases: [string, string, boolean][] = [
    ['80', '80', true],
    ['80', '81', false],
    ['1000/1010', '1010/1020', true],
    ['1000/1010', '1011/1020', false],
    ['1000/1010', '1005', true],
    ['any', '22', true],
  ];
  for (const [a, b, want] of cases) {
    it(`${a} vs ${b}: ${want}`, () => {
      assert.equal(portsOverlap(port(a), port(b)), want);
      assert.equal(portsOverlap(port(b), port(a)), want);
    });
  }
});

const rule = (id: string, ext: string, ep: string, int: string, ip: string, protocol: NatProtocol): DnatRule => ({
  id,
  externalIp: ext,
  externalPort: port(ep),
  internalIp: int,
  internalPort: port(ip),
  protocol,
});

describe('findDnatClash', () => {
  const table = [
    rule('fwd-web', '203.0.113.5', '80', '10.0.1.10', '8080', 'tcp'),
    rule('fwd-range', '203.0.113.5', '1000/1010', '10.0.1.11', '2000/2010', 'tcp'),
    rule('fwd-dns', '203.0.113.5', '53', '10.0.1.12', '53', 'udp'),
    rule('fwd-map', '203.0.113.9', 'any', '10.0.1.20', 'any', 'any'),
  ];
  const cases: [string, DnatRule, { kind: string; with: string } | undefined][] = [
    ['another port of the same EIP', rule('', '203.0.113.5', '443', '10.0.1.10', '8443', 'tcp'), undefined],
    ['the same port over the other protocol', rule('', '203.0.113.5', '80', '10.0.1.13', '80', 'udp'), undefined],
    ['the same port on another EIP', rule('', '203.0.113.6', '80', '10.0.1.13', '80', 'tcp'), undefined],
    ['the same external port and protocol', rule('', '203.0.113.5', '80', '10.0.1.13', '80', 'tcp'), { kind: 'external', with: 'fwd-web' }],
    ['a port inside a forwarded range', rule('', '203.0.113.5', '1005', '10.0.1.13', '22', 'tcp'), { kind: 'external', with: 'fwd-range' }],
    ['a range overlapping a range', rule('', '203.0.113.5', '1010/1020', '10.0.1.13', '3010/3020', 'tcp'), { kind: 'external', with: 'fwd-range' }],
    ['the same internal address, port and protocol', rule('', '203.0.113.6', '8080', '10.0.1.10', '8080', 'tcp'), { kind: 'internal', with: 'fwd-web' }],
    ['an internal port inside an internal range', rule('', '203.0.113.6', '22', '10.0.1.11', '2005', 'tcp'), { kind: 'internal', with: 'fwd-range' }],
    ['the same internal port over the other protocol', rule('', '203.0.113.6', '8080', '10.0.1.10', '8080', 'udp'), undefined],
    ['a port mapping on an IP-mapped EIP', rule('', '203.0.113.9', '22', '10.0.1.30', '22', 'tcp'), { kind: 'ipMapped', with: 'fwd-map' }],
    ['an IP mapping of an EIP with port mappings', rule('', '203.0.113.5', 'any', '10.0.1.40', 'any', 'any'), { kind: 'ipMapped', with: 'fwd-web' }],
    ['a port mapping to an IP-mapped internal address', rule('', '203.0.113.6', '22', '10.0.1.20', '22', 'tcp'), { kind: 'internal', with: 'fwd-map' }],
    ['an entry compared with itself (a modification)', rule('fwd-web', '203.0.113.5', '80', '10.0.1.10', '8081', 'tcp'), undefined],
  ];
  for (const [name, candidate, want] of cases) it(name, () => assert.deepEqual(findDnatClash(table, candidate), want));
});

describe('findSnatClash', () => {
  const c = (t: string) => parseCidr(t)!;
  const table: SnatScope[] = [
    { id: 'snat-vsw', vSwitchId: 'vsw-a', cidr: c('10.0.1.0/24') },
    { id: 'snat-cidr', vSwitchId: '', cidr: c('10.0.9.0/24') },
    { id: 'snat-vpc', vSwitchId: '', cidr: c('10.0.0.0/16') },
  ];
  const cases: [string, SnatScope, { kind: string; with: string } | undefined][] = [
    ['the same vSwitch', { id: '', vSwitchId: 'vsw-a', cidr: c('10.0.1.0/24') }, { kind: 'vSwitch', with: 'snat-vsw' }],
    ['a vSwitch whose CIDR is already a CIDR scope', { id: '', vSwitchId: 'vsw-b', cidr: c('10.0.9.0/24') }, { kind: 'vSwitch', with: 'snat-cidr' }],
    ['the same CIDR', { id: '', vSwitchId: '', cidr: c('10.0.9.0/24') }, { kind: 'cidr', with: 'snat-cidr' }],
    ['the CIDR of a scoped vSwitch', { id: '', vSwitchId: '', cidr: c('10.0.1.0/24') }, { kind: 'cidr', with: 'snat-vsw' }],
    ['another vSwitch', { id: '', vSwitchId: 'vsw-c', cidr: c('10.0.2.0/24') }, undefined],
    ['one host inside a scoped vSwitch (more specific wins)', { id: '', vSwitchId: '', cidr: c('10.0.1.7/32') }, undefined],
    ['a wider CIDR around scoped ones', { id: '', vSwitchId: '', cidr: c('10.0.0.0/20') }, undefined],
  ];
  for (const [name, candidate, want] of cases) it(name, () => assert.deepEqual(findSnatClash(table, candidate), want));
});

describe('parseSnatSource', () => {
  const cases: [string, string | undefined][] = [
    ['192.168.1.0/24', '192.168.1.0/24'],
    ['192.168.1.7', '192.168.1.7/32'],
    ['192.168.1.7/24', undefined], // host bits set
    ['192.168.1.0/33', undefined],
    ['nonsense', undefined],
  ];
  for (const [text, want] of cases) {
    it(`${text} → ${want}`, () => {
      const got = parseSnatSource(text);
      assert.equal(got && formatCidr(got), want);
    });
  }
});
