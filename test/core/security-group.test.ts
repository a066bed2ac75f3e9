// Table tests of the pure security-group rule logic: normalisation, identity, and the Authorize/Revoke/
// Modify plans.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/core/errors.ts';
import type { SecurityGroupRule } from '../../src/core/model.ts';
import {
  cidrOf,
  innerAccessPolicy,
  normalizeRule,
  planAuthorize,
  planModify,
  planRevokeByFields,
  planRevokeByIds,
  portRangeOf,
  ruleKey,
  type RuleInput,
  type RuleSpec,
} from '../../src/core/security-group.ts';

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${e}`);
    return e;
  }
  assert.fail('expected an error');
}

let seq = 0;
const stored = (spec: RuleSpec): SecurityGroupRule => ({ ...spec, SecurityGroupRuleId: `sgr-${++seq}`, CreateTime: '2025-01-01T00:00:00Z' });
const tcp80 = (extra: RuleInput = {}): RuleInput => ({ IpProtocol: 'tcp', PortRange: '80/80', SourceCidrIp: '0.0.0.0/0', ...extra });

describe('normalizeRule', () => {
  it('normalises case, defaults and the peer of each direction', () => {
    assert.deepEqual(normalizeRule('ingress', { IpProtocol: 'tcp', PortRange: '22/22', SourceCidrIp: '10.0.0.0/8', Policy: 'DROP', Priority: '7' }), {
      Direction: 'ingress',
      IpProtocol: 'TCP',
      PortRange: '22/22',
      SourcePortRange: '',
      SourceCidrIp: '10.0.0.0/8',
      DestCidrIp: '',
      SourceGroupId: '',
      DestGroupId: '',
      Policy: 'Drop',
      Priority: 7,
      NicType: 'intranet',
      Description: '',
    });
    const egress = normalizeRule('egress', { IpProtocol: 'All', DestGroupId: 'sg-x', SourceCidrIp: '192.168.1.5', NicType: 'Intranet', Description: 'out' });
    assert.equal(egress.IpProtocol, 'ALL');
    assert.equal(egress.PortRange, '-1/-1', 'ALL defaults to -1/-1');
    assert.equal(egress.Policy, 'Accept');
    assert.equal(egress.Priority, 1);
    assert.equal(egress.DestGroupId, 'sg-x');
    assert.equal(egress.DestCidrIp, '');
    assert.equal(egress.SourceCidrIp, '192.168.1.5', 'the local side of an egress rule is SourceCidrIp');
    assert.equal(egress.Description, 'out');
    // A CIDR peer wins over a group peer, as in the reference.
    const both = normalizeRule('ingress', tcp80({ SourceGroupId: 'sg-y' }));
    assert.equal(both.SourceGroupId, '');
    assert.equal(both.SourceCidrIp, '0.0.0.0/0');
    for (const proto of ['udp', 'Icmp', 'gre', 'ALL']) {
      const r = normalizeRule('ingress', { IpProtocol: proto, PortRange: proto === 'udp' ? '53/53' : '-1/-1', SourceCidrIp: '1.2.3.4/32' });
      assert.equal(r.IpProtocol, proto.toUpperCase());
    }
  });

  const cases: [string, 'ingress' | 'egress', RuleInput, string][] = [
    ['protocol missing', 'ingress', { PortRange: '80/80', SourceCidrIp: '0.0.0.0/0' }, 'MissingParameter'],
    ['protocol unknown', 'ingress', tcp80({ IpProtocol: 'SCTP' }), 'InvalidIpProtocol.ValueNotSupported'],
    ['protocol number', 'ingress', tcp80({ IpProtocol: '6' }), 'InvalidIpProtocol.ValueNotSupported'],
    ['protocol -1', 'ingress', tcp80({ IpProtocol: '-1', PortRange: '-1/-1' }), 'InvalidIpProtocol.ValueNotSupported'],
    ['TCP without ports', 'ingress', { IpProtocol: 'TCP', SourceCidrIp: '0.0.0.0/0' }, 'InvalidPortRange.Malformed'],
    ['ports not from/to', 'ingress', tcp80({ PortRange: '80' }), 'InvalidParam.PortRange'],
    ['ports text', 'ingress', tcp80({ PortRange: 'a/b' }), 'InvalidParam.PortRange'],
    ['port 0', 'ingress', tcp80({ PortRange: '0/80' }), 'InvalidPortRange.Malformed'],
    ['port above 65535', 'ingress', tcp80({ PortRange: '1/65536' }), 'InvalidPortRange.Malformed'],
    ['ports reversed', 'ingress', tcp80({ PortRange: '90/80' }), 'InvalidPortRange.Malformed'],
    ['TCP with -1/-1', 'ingress', tcp80({ PortRange: '-1/-1' }), 'OperationDenied'],
    ['ICMP with ports', 'ingress', tcp80({ IpProtocol: 'ICMP', PortRange: '8/0' }), 'OperationDenied'],
    ['ALL with ports', 'egress', { IpProtocol: 'ALL', PortRange: '1/65535', DestCidrIp: '0.0.0.0/0' }, 'OperationDenied'],
    ['source ports reversed', 'ingress', tcp80({ SourcePortRange: '9/1' }), 'InvalidSourcePortRange.Malformed'],
    ['source ports on GRE', 'ingress', { IpProtocol: 'GRE', SourceCidrIp: '0.0.0.0/0', SourcePortRange: '1/2' }, 'InvalidSourcePortRange.Malformed'],
    ['policy unknown', 'ingress', tcp80({ Policy: 'allow' }), 'InvalidPolicy.Malformed'],
    ['priority 0', 'ingress', tcp80({ Priority: '0' }), 'InvalidPriority.Malformed'],
    ['priority 101', 'ingress', tcp80({ Priority: '101' }), 'InvalidPriority.Malformed'],
    ['priority text', 'ingress', tcp80({ Priority: 'high' }), 'InvalidPriority.Malformed'],
    ['priority fraction', 'ingress', tcp80({ Priority: '1.5' }), 'InvalidPriority.Malformed'],
    ['nic type unknown', 'ingress', tcp80({ NicType: 'public' }), 'InvalidNicType.ValueNotSupported'],
    ['description too long', 'ingress', tcp80({ Description: 'x'.repeat(513) }), 'InvalidSecurityGroupDiscription.Malformed'],
    ['no source', 'ingress', { IpProtocol: 'TCP', PortRange: '80/80' }, 'MissingParameter.Source'],
    ['no destination', 'egress', { IpProtocol: 'TCP', PortRange: '80/80', SourceCidrIp: '10.0.0.0/8' }, 'MissingParameter.Dest'],
    ['source CIDR malformed', 'ingress', tcp80({ SourceCidrIp: '10.0.0.0/33' }), 'InvalidSourceCidrIp.Malformed'],
    ['source CIDR text', 'ingress', tcp80({ SourceCidrIp: 'anywhere' }), 'InvalidSourceCidrIp.Malformed'],
    ['dest CIDR malformed', 'egress', { IpProtocol: 'ALL', DestCidrIp: '300.1.1.1' }, 'InvalidDestCidrIp.Malformed'],
    ['ingress local CIDR malformed', 'ingress', tcp80({ DestCidrIp: '1.2.3' }), 'InvalidDestCidrIp.Malformed'],
    ['same source and destination CIDR', 'ingress', tcp80({ SourceCidrIp: '10.0.0.0/8', DestCidrIp: '10.0.0.0/8' }), 'InvalidParamter.Conflict'],
    ['IPv4 and IPv6 source', 'ingress', tcp80({ Ipv6SourceCidrIp: '::/0' }), 'InvalidParam.SourceIp'],
    ['IPv6 only', 'ingress', { IpProtocol: 'TCP', PortRange: '80/80', Ipv6SourceCidrIp: '::/0' }, 'UnsupportedParameter'],
    ['prefix list only', 'egress', { IpProtocol: 'TCP', PortRange: '80/80', DestPrefixListId: 'pl-1' }, 'UnsupportedParameter'],
  ];
  for (const [name, direction, input, code] of cases) {
    it(`refuses ${name} with ${code}`, () => {
      assert.equal(errorOf(() => normalizeRule(direction, input, { where: 'Permissions.1' })).code, code);
    });
  }

  it('keeps enterprise groups to accept rules with CIDR peers', () => {
    assert.equal(errorOf(() => normalizeRule('ingress', tcp80({ Policy: 'drop' }), { groupType: 'enterprise' })).code, 'InvalidGroupParameter.OperationDenied');
    assert.equal(
      errorOf(() => normalizeRule('ingress', { IpProtocol: 'TCP', PortRange: '80/80', SourceGroupId: 'sg-a' }, { groupType: 'enterprise' })).code,
      'InvalidGroupAuthParameter.OperationDenied',
    );
    assert.equal(normalizeRule('ingress', tcp80(), { groupType: 'enterprise' }).Policy, 'Accept');
    assert.equal(innerAccessPolicy('enterprise'), 'Drop');
    assert.equal(innerAccessPolicy('normal'), 'Accept');
  });

  it('names the offending field in the message', () => {
    assert.match(errorOf(() => normalizeRule('ingress', tcp80({ Priority: '0' }), { where: 'Permissions.3' })).message, /Permissions\.3\.Priority/);
  });
});

describe('rule identity', () => {
  it('treats case, defaults and the CIDR spelling as the same rule, and priority/policy/ports as different', () => {
    const base = normalizeRule('ingress', tcp80({ SourceCidrIp: '10.0.0.0/8' }));
    assert.equal(ruleKey(normalizeRule('ingress', tcp80({ IpProtocol: 'TCP', SourceCidrIp: '10.1.2.3/8', Policy: 'Accept', Priority: '1', Description: 'other' }))), ruleKey(base));
    assert.equal(ruleKey(normalizeRule('ingress', { ...tcp80(), SourceCidrIp: '1.2.3.4' })), ruleKey(normalizeRule('ingress', { ...tcp80(), SourceCidrIp: '1.2.3.4/32' })));
    for (const change of [{ Priority: '2' }, { Policy: 'drop' }, { PortRange: '80/81' }, { IpProtocol: 'udp' }, { SourceCidrIp: '10.0.0.0/9' }, { SourcePortRange: '1/2' }])
      assert.notEqual(ruleKey(normalizeRule('ingress', tcp80({ SourceCidrIp: '10.0.0.0/8', ...change }))), ruleKey(base), JSON.stringify(change));
    assert.notEqual(ruleKey(normalizeRule('egress', { IpProtocol: 'TCP', PortRange: '80/80', DestCidrIp: '10.0.0.0/8' })), ruleKey(base));
  });

  it('reads CIDRs and port ranges for the data plane', () => {
    assert.deepEqual(cidrOf('10.1.2.3/8'), { network: 0x0a000000, prefix: 8 });
    assert.deepEqual(cidrOf('192.168.0.1'), { network: 0xc0a80001, prefix: 32 });
    assert.equal(cidrOf('nope'), undefined);
    assert.deepEqual(portRangeOf('22/80'), { from: 22, to: 80 });
    assert.equal(portRangeOf('-1/-1'), undefined);
    assert.equal(portRangeOf(''), undefined);
  });
});

describe('plans', () => {
  const a = normalizeRule('ingress', tcp80());
  const b = normalizeRule('ingress', tcp80({ PortRange: '443/443' }));
  const c = normalizeRule('egress', { IpProtocol: 'ALL', DestCidrIp: '0.0.0.0/0', Policy: 'drop', Priority: '100' });
  const g = (id: string) => normalizeRule('ingress', { IpProtocol: 'ALL', SourceGroupId: id });

  it('authorizes only what is missing and enforces the limits', () => {
    const existing = [stored(a)];
    assert.deepEqual(planAuthorize(existing, [a, b], { rulesPerGroup: 10 }), [b]);
    assert.deepEqual(planAuthorize(existing, [a], { rulesPerGroup: 1 }), [], 'an existing rule counts against nothing');
    assert.equal(errorOf(() => planAuthorize(existing, [b, c], { rulesPerGroup: 2 })).code, 'AuthorizationLimitExceed');
    assert.equal(errorOf(() => planAuthorize(existing, [b, c], { rulesPerGroup: 2 })).kind, 'Forbidden');
    assert.equal(errorOf(() => planAuthorize([], [b, normalizeRule('ingress', tcp80({ PortRange: '443/443', IpProtocol: 'TCP' }))], { rulesPerGroup: 9 })).code, 'InvalidParam.DuplicatePermissions');
    const peers = [stored(g('sg-1')), stored(g('sg-2'))];
    assert.deepEqual(planAuthorize(peers, [b], { rulesPerGroup: 10, groupPeerRules: 2 }), [b], 'CIDR rules do not count against the group-peer limit');
    assert.equal(errorOf(() => planAuthorize(peers, [g('sg-3')], { rulesPerGroup: 10, groupPeerRules: 2 })).code, 'AuthorizedGroupRule.LimitExceed');
  });

  it('revokes by fields (missing is fine) and by id (missing is refused)', () => {
    const rules = [stored(a), stored(b), stored(c)];
    assert.deepEqual(planRevokeByFields(rules, [normalizeRule('ingress', tcp80({ IpProtocol: 'TCP', SourceCidrIp: '0.0.0.0/0' }))]), [rules[1], rules[2]]);
    assert.deepEqual(planRevokeByFields(rules, [normalizeRule('ingress', tcp80({ PortRange: '8080/8080' }))]), rules);
    assert.deepEqual(planRevokeByIds(rules, 'ingress', [rules[1].SecurityGroupRuleId]), [rules[0], rules[2]]);
    assert.equal(errorOf(() => planRevokeByIds(rules, 'ingress', ['sgr-nope'])).code, 'InvalidParam.SecurityGroupRuleId');
    assert.equal(errorOf(() => planRevokeByIds(rules, 'ingress', [rules[2].SecurityGroupRuleId])).code, 'InvalidParam.SecurityGroupRuleId', 'an egress id is not an ingress rule');
    assert.equal(errorOf(() => planRevokeByIds(rules, 'ingress', [rules[0].SecurityGroupRuleId, rules[0].SecurityGroupRuleId])).code, 'InvalidParam.SecurityGroupRuleIdRepeated');
  });

  it('modifies a rule in place, keeping its id, and refuses what the reference refuses', () => {
    const rules = [stored(a), stored(b), stored(g('sg-1'))];
    const id = rules[0].SecurityGroupRuleId;
    const out = planModify(rules, 'ingress', id, { PortRange: '8080/8090', Priority: '5', Description: 'web' });
    assert.equal(out.rule.SecurityGroupRuleId, id);
    assert.equal(out.rule.CreateTime, rules[0].CreateTime);
    assert.equal(out.rule.PortRange, '8080/8090');
    assert.equal(out.rule.Priority, 5);
    assert.equal(out.rule.SourceCidrIp, '0.0.0.0/0', 'fields not given stay');
    assert.equal(out.rules.length, 3);
    assert.equal(out.rules[0], out.rule);
    assert.equal(errorOf(() => planModify(rules, 'ingress', 'sgr-none', {})).code, 'InvalidSecurityGroupRuleId.NotFound');
    assert.equal(errorOf(() => planModify(rules, 'egress', id, {})).code, 'InvalidSecurityGroupRuleId.NotFound');
    assert.equal(errorOf(() => planModify(rules, 'ingress', id, { PortRange: '443/443' })).code, 'InvalidOperation.RuleDuplicate');
    assert.equal(errorOf(() => planModify(rules, 'ingress', id, { SourceGroupId: 'sg-9' })).code, 'InvalidOperation.ModifySgRuleEntityType');
    assert.equal(errorOf(() => planModify(rules, 'ingress', rules[2].SecurityGroupRuleId, { SourceCidrIp: '1.1.1.1' })).code, 'InvalidOperation.ModifySgRuleEntityType');
    assert.equal(planModify(rules, 'ingress', rules[2].SecurityGroupRuleId, { SourceGroupId: 'sg-2' }).rule.SourceGroupId, 'sg-2');
    assert.equal(errorOf(() => planModify(rules, 'ingress', id, { IpProtocol: 'ICMP' })).code, 'OperationDenied', 'the merged rule is validated as a whole');
    assert.equal(errorOf(() => planModify(rules, 'ingress', id, { NicType: 'internet' })).code, 'InvalidOperation.ModifyNicType');
  });
});
