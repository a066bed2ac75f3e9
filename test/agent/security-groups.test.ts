// Table tests of the security-group compiler: rule order and tie rules, match text per protocol and
// peer, defaults per group type, chain sharing, and the delta transaction.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compileSecurityGroups,
  egressChainName,
  ingressChainName,
  orderedRules,
  planSecurityGroups,
  renderSgDelta,
  ruleStatement,
  type SgCompileInput,
} from '../../src/agent/net/security-groups.ts';
import { egress, group, ingress } from './helpers/sg-topology.ts';

const ids = (rules: { SecurityGroupRuleId: string }[]) => rules.map((r) => r.SecurityGroupRuleId);

describe('rule order', () => {
  test('priority ascending, Drop before Accept at equal priority, across groups', () => {
    const a1 = ingress({ IpProtocol: 'TCP', PortRange: '80/80', Priority: 10 });
    const a2 = ingress({ IpProtocol: 'TCP', PortRange: '80/80', Priority: 5, Policy: 'Drop' });
    const b1 = ingress({ IpProtocol: 'TCP', PortRange: '80/80', Priority: 5 });
    const b2 = ingress({ IpProtocol: 'ALL', Priority: 100, Policy: 'Drop' });
    const b3 = ingress({ IpProtocol: 'ICMP', Priority: 1 });
    const out = egress({ IpProtocol: 'ALL', Priority: 1 });
    const got = orderedRules([group('sg-b', [b1, b2, b3]), group('sg-a', [a1, a2, out])], 'ingress');
    assert.deepEqual(ids(got), ids([b3, a2, b1, a1, b2]));
    assert.deepEqual(ids(orderedRules([group('sg-a', [a1, a2, out])], 'egress')), ids([out]));
  });

  test('the chain text follows that order and ends with the default', () => {
    const accept = ingress({ IpProtocol: 'TCP', PortRange: '80/80', Priority: 7 });
    const drop = ingress({ IpProtocol: 'TCP', PortRange: '80/80', Priority: 7, Policy: 'Drop' });
    const plan = planSecurityGroups({ members: [{ ifname: 'rA', ip: '10.0.0.2', securityGroupIds: ['sg-e'] }], groups: [group('sg-e', [accept, drop], 'enterprise')] });
    assert.deepEqual(plan.chains.get(ingressChainName(['sg-e'])), [
      `meta nfproto ipv4 tcp dport 80 drop comment "${drop.SecurityGroupRuleId}"`,
      `meta nfproto ipv4 tcp dport 80 accept comment "${accept.SecurityGroupRuleId}"`,
      'drop',
    ]);
  });
});

describe('rule statements', () => {
  const cases: [string, ReturnType<typeof ingress>, 'accept' | 'return', string][] = [
    ['TCP range from a CIDR', ingress({ IpProtocol: 'TCP', PortRange: '8000/8100', SourceCidrIp: '192.0.2.0/24' }), 'accept', 'ip saddr 192.0.2.0/24 tcp dport 8000-8100 accept'],
    ['host bits cleared, /32 as an address', ingress({ IpProtocol: 'UDP', PortRange: '53/53', SourceCidrIp: '10.1.2.3/8', DestCidrIp: '10.0.0.5' }), 'accept', 'ip saddr 10.0.0.0/8 ip daddr 10.0.0.5 udp dport 53 accept'],
    ['any IPv4 source says IPv4', ingress({ IpProtocol: 'ALL', Policy: 'Drop' }), 'accept', 'meta nfproto ipv4 drop'],
    ['ICMP', ingress({ IpProtocol: 'ICMP' }), 'accept', 'meta nfproto ipv4 meta l4proto icmp accept'],
    ['GRE', ingress({ IpProtocol: 'GRE', SourceCidrIp: '198.51.100.0/24' }), 'accept', 'ip saddr 198.51.100.0/24 meta l4proto gre accept'],
    ['group peer and source ports', ingress({ IpProtocol: 'TCP', PortRange: '22/22', SourcePortRange: '1024/65535', SourceGroupId: 'sg-peer1' }), 'accept', 'ip saddr @sgm_peer1 tcp dport 22 tcp sport 1024-65535 accept'],
    ['egress: peer is the destination, accept returns', egress({ IpProtocol: 'TCP', PortRange: '443/443', DestCidrIp: '203.0.113.0/24', SourceCidrIp: '10.0.0.0/24' }), 'return', 'ip daddr 203.0.113.0/24 ip saddr 10.0.0.0/24 tcp dport 443 return'],
    ['egress to a group, drop', egress({ IpProtocol: 'ALL', DestGroupId: 'sg-db', Policy: 'Drop' }), 'return', 'ip daddr @sgm_db drop'],
  ];
  for (const [name, r, allow, want] of cases) {
    test(name, () => assert.equal(ruleStatement(r, allow), `${want} comment "${r.SecurityGroupRuleId}"`));
  }
});

describe('plans', () => {
  const web = group('sg-web', [ingress({ IpProtocol: 'TCP', PortRange: '80/80', SourceGroupId: 'sg-lb' })]);
  const lb = group('sg-lb', []);
  const input: SgCompileInput = {
    members: [
      { ifname: 'r1', ip: '10.0.0.12', securityGroupIds: ['sg-web'] },
      { ifname: 'r2', ip: '10.0.0.11', securityGroupIds: ['sg-web'] },
      { ifname: 'r3', ip: '10.0.0.20', securityGroupIds: ['sg-lb'] },
    ],
    groups: [web, lb],
  };

  test('instances with the same groups share chains; sets hold member addresses in order', () => {
    const plan = planSecurityGroups(input);
    assert.equal(plan.ingress.get('r1'), plan.ingress.get('r2'));
    assert.notEqual(plan.ingress.get('r1'), plan.ingress.get('r3'));
    assert.equal(plan.chains.size, 4);
    assert.deepEqual(Object.fromEntries(plan.sets), { sgm_lb: ['10.0.0.20'], sgm_web: ['10.0.0.11', '10.0.0.12'] });
    // Group order in a member's list does not change its chains.
    assert.equal(ingressChainName(['sg-b', 'sg-a']), ingressChainName(['sg-a', 'sg-b', 'sg-a']));
  });

  test('basic groups: inner access first, egress open by default; enterprise: both closed', () => {
    const plan = planSecurityGroups(input);
    assert.deepEqual(plan.chains.get(ingressChainName(['sg-web'])), [
      'ip saddr @sgm_web accept comment "inner"',
      `ip saddr @sgm_lb tcp dport 80 accept comment "${web.Permissions[0].SecurityGroupRuleId}"`,
      'drop',
    ]);
    assert.deepEqual(plan.chains.get(egressChainName(['sg-web'])), ['ip daddr @sgm_web return comment "inner"', 'return']);
    const ent = planSecurityGroups({ members: [{ ifname: 'r9', ip: '10.0.0.9', securityGroupIds: ['sg-ent'] }], groups: [group('sg-ent', [], 'enterprise')] });
    assert.deepEqual(ent.chains.get(ingressChainName(['sg-ent'])), ['drop']);
    assert.deepEqual(ent.chains.get(egressChainName(['sg-ent'])), ['drop']);
    assert.equal(ent.sets.size, 0);
  });

  test('the compiled text declares sets, chains, then the interface maps', () => {
    const { chains, forwardRules } = compileSecurityGroups(input);
    assert.equal(forwardRules, 'iifname vmap @sg_out\noifname vmap @sg_in\niifname @sg_ports accept\n');
    assert.match(chains, /^set sgm_lb \{ type ipv4_addr; elements = \{ 10\.0\.0\.20 \}; \}$/m);
    assert.match(chains, /^set sg_ports \{ type ifname; elements = \{ "r1", "r2", "r3" \}; \}$/m);
    const webIn = ingressChainName(['sg-web']);
    assert.match(chains, new RegExp(`^map sg_in \\{ type ifname : verdict; elements = \\{ "r1" : jump ${webIn}, "r2" : jump ${webIn}, "r3" : jump sgi_`, 'm'));
    assert.ok(chains.indexOf('set sgm_') < chains.indexOf('chain sg') && chains.indexOf('chain sg') < chains.indexOf('map sg_in'));
    const empty = compileSecurityGroups({ members: [], groups: [] });
    assert.equal(empty.chains, 'map sg_in { type ifname : verdict; }\nmap sg_out { type ifname : verdict; }\nset sg_ports { type ifname; }\n');
  });
});

describe('renderSgDelta', () => {
  const web = () => group('sg-web', [ingress({ IpProtocol: 'TCP', PortRange: '80/80', SourceGroupId: 'sg-lb' })]);
  const webNow = web();
  const base = (w = webNow): SgCompileInput => ({
    members: [
      { ifname: 'r1', ip: '10.0.0.11', securityGroupIds: ['sg-web'] },
      { ifname: 'r3', ip: '10.0.0.20', securityGroupIds: ['sg-lb'] },
    ],
    groups: [w, group('sg-lb', [])],
  });

  test('nothing changed: empty script', () => {
    assert.equal(renderSgDelta(planSecurityGroups(base()), planSecurityGroups(base())), '');
  });

  test('a member joining a group it shares with others: elements only', () => {
    const next = base();
    const join = { members: [...next.members, { ifname: 'r4', ip: '10.0.0.21', securityGroupIds: ['sg-lb'] }], groups: next.groups };
    const lbIn = ingressChainName(['sg-lb']);
    const lbOut = egressChainName(['sg-lb']);
    assert.equal(
      renderSgDelta(planSecurityGroups(base()), planSecurityGroups(join)),
      [
        'add element inet eci sgm_lb { 10.0.0.21 }',
        `add element inet eci sg_in { "r4" : jump ${lbIn} }`,
        `add element inet eci sg_out { "r4" : jump ${lbOut} }`,
        'add element inet eci sg_ports { "r4" }',
        '',
      ].join('\n'),
    );
  });

  test('a rule change flushes and refills only the chains of that group, in one script', () => {
    const w = group('sg-web', [...webNow.Permissions]);
    w.Permissions.push(ingress({ IpProtocol: 'TCP', PortRange: '443/443', Priority: 2 }));
    const script = renderSgDelta(planSecurityGroups(base()), planSecurityGroups(base(w)));
    const webIn = ingressChainName(['sg-web']);
    assert.deepEqual(script.trim().split('\n'), [
      `flush chain inet eci ${webIn}`,
      'add rule inet eci ' + webIn + ' ip saddr @sgm_web accept comment "inner"',
      `add rule inet eci ${webIn} ip saddr @sgm_lb tcp dport 80 accept comment "${w.Permissions[0].SecurityGroupRuleId}"`,
      `add rule inet eci ${webIn} meta nfproto ipv4 tcp dport 443 accept comment "${w.Permissions[1].SecurityGroupRuleId}"`,
      `add rule inet eci ${webIn} drop`,
    ]);
  });

  test('the last member of a combination leaving removes its chains and sets after the map elements', () => {
    const gone = { members: base().members.filter((m) => m.ifname !== 'r3'), groups: base().groups };
    const lines = renderSgDelta(planSecurityGroups(base()), planSecurityGroups(gone)).trim().split('\n');
    const lbIn = ingressChainName(['sg-lb']);
    const at = (l: string) => lines.indexOf(l);
    assert.ok(at('delete element inet eci sgm_lb { 10.0.0.20 }') >= 0);
    assert.ok(at('delete element inet eci sg_in { "r3" }') >= 0);
    assert.ok(at(`flush chain inet eci ${lbIn}`) > at('delete element inet eci sg_in { "r3" }'));
    assert.ok(at(`delete chain inet eci ${lbIn}`) > at(`flush chain inet eci ${lbIn}`));
    // sgm_lb stays: sg-web's rule still names sg-lb as its peer, now with no members.
    assert.ok(!lines.includes('delete set inet eci sgm_lb'));
    const none = renderSgDelta(planSecurityGroups(base()), planSecurityGroups({ members: [], groups: [] }));
    assert.match(none, /delete set inet eci sgm_lb\n/);
    assert.match(none, /delete set inet eci sgm_web\n/);
  });

  test('moving an interface to another combination replaces its map elements', () => {
    const moved = { members: [{ ifname: 'r1', ip: '10.0.0.11', securityGroupIds: ['sg-web', 'sg-lb'] }, base().members[1]], groups: base().groups };
    const script = renderSgDelta(planSecurityGroups(base()), planSecurityGroups(moved));
    const both = ingressChainName(['sg-web', 'sg-lb']);
    assert.match(script, new RegExp(`^add chain inet eci ${both}$`, 'm'));
    assert.match(script, /^delete element inet eci sg_in \{ "r1" \}$/m);
    assert.match(script, new RegExp(`^add element inet eci sg_in \\{ "r1" : jump ${both} \\}$`, 'm'));
    assert.match(script, /^add element inet eci sgm_lb \{ 10\.0\.0\.11 \}$/m);
    assert.ok(script.indexOf(`add chain inet eci ${both}`) < script.indexOf(`jump ${both}`));
  });
});
