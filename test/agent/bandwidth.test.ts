// Table tests of the shaping planner and renderers: class minors, packages, the constant-time live
// change, deltas, and the nft priority maps.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  classId,
  eipClassMinor,
  planShaping,
  renderEipClass,
  renderPrioDelta,
  renderPrioMap,
  renderPrioStatement,
  renderShapingClasses,
  renderShapingDelta,
  renderShapingRoot,
  tbfBurst,
  tcRate,
  UPLOAD_PRIO_MAP,
} from '../../src/agent/net/bandwidth.ts';

describe('class minors', () => {
  test('an EIP keeps the low 16 bits of its address, printed in hex', () => {
    assert.equal(eipClassMinor('203.0.113.10'), 0x710a);
    assert.equal(classId(eipClassMinor('203.0.113.10')), '1:710a');
    assert.equal(eipClassMinor('10.1.0.0'), 1, 'minor 0 is not a class');
    assert.throws(() => eipClassMinor('nope'));
  });

  test('the plan does not depend on input order; a collision moves only the higher address', () => {
    const a = planShaping([{ ip: '198.51.113.10', mbit: 5 }, { ip: '203.0.113.10', mbit: 5 }, { ip: '203.0.113.11', mbit: 5 }]);
    const b = planShaping([{ ip: '203.0.113.11', mbit: 5 }, { ip: '203.0.113.10', mbit: 5 }, { ip: '198.51.113.10', mbit: 5 }]);
    assert.deepEqual(a, b);
    assert.equal(a.prio.get('198.51.113.10'), '1:710a');
    // 203.0.113.10 wanted 710a, taken: it probes to the first free minor after it (710b is 203.0.113.11's).
    assert.equal(a.prio.get('203.0.113.11'), '1:710b');
    assert.equal(a.prio.get('203.0.113.10'), '1:710c');
  });

  test('packages get a minor no EIP uses, and only when an EIP names them', () => {
    const plan = planShaping(
      [{ ip: '203.0.113.10', mbit: 6, packageId: 'cbwp-1' }, { ip: '203.0.113.11', mbit: 6, packageId: 'cbwp-1' }, { ip: '203.0.113.12', mbit: 5, packageId: 'cbwp-missing' }],
      [{ id: 'cbwp-1', mbit: 8 }, { id: 'cbwp-unused', mbit: 50 }],
    );
    const pkg = plan.classes.filter((c) => c.kind === 'package');
    assert.equal(pkg.length, 1);
    assert.equal(pkg[0].key, 'cbwp-1');
    const eips = plan.classes.filter((c) => c.kind === 'eip');
    assert.ok(!eips.some((e) => e.minor === pkg[0].minor));
    assert.deepEqual(eips.map((e) => [e.key, e.parent]), [['203.0.113.10', pkg[0].minor], ['203.0.113.11', pkg[0].minor], ['203.0.113.12', 0]]);
  });
});

describe('tc lines', () => {
  test('rates, bursts and the root', () => {
    assert.equal(tcRate(5), '5000kbit');
    assert.equal(tcRate(0.5), '500kbit');
    assert.equal(tbfBurst(5), 30000);
    assert.equal(tbfBurst(200), 125000);
    assert.deepEqual(renderShapingRoot('u1'), ['qdisc replace dev u1 root handle 1: htb default 0']);
    assert.deepEqual(renderShapingRoot('u1', 'add'), ['qdisc add dev u1 root handle 1: htb default 0']);
  });

  test('an EIP alone: HTB only classifies, tbf limits', () => {
    assert.deepEqual(renderEipClass('u1', { minor: 0x710a, parent: 0, mbit: 5 }), [
      'class replace dev u1 parent 1: classid 1:710a htb rate 10gbit ceil 10gbit quantum 60000',
      'qdisc replace dev u1 parent 1:710a tbf rate 5000kbit burst 30000 latency 40ms',
    ]);
  });

  test('a package: parent rate = ceil = package, children borrow up to their own limit', () => {
    const plan = planShaping([{ ip: '203.0.113.10', mbit: 6, packageId: 'p' }], [{ id: 'p', mbit: 8 }]);
    const p = classId(plan.classes[0].minor);
    assert.deepEqual(renderShapingClasses('u1', plan), [
      `class replace dev u1 parent 1: classid ${p} htb rate 8000kbit ceil 8000kbit burst 30000 cburst 30000 quantum 1514`,
      `class replace dev u1 parent ${p} classid 1:710a htb rate 100kbit ceil 6000kbit burst 30000 cburst 30000 quantum 1514`,
      'qdisc replace dev u1 parent 1:710a tbf rate 6000kbit burst 30000 latency 40ms',
    ]);
  });
});

describe('renderShapingDelta', () => {
  const base = planShaping([{ ip: '203.0.113.10', mbit: 5 }, { ip: '203.0.113.11', mbit: 5 }]);

  test('no change, no lines', () => {
    assert.deepEqual(renderShapingDelta('u1', base, planShaping([{ ip: '203.0.113.11', mbit: 5 }, { ip: '203.0.113.10', mbit: 5 }])), []);
  });

  test('a limit change is two replace lines, whatever else the device holds', () => {
    const next = planShaping([{ ip: '203.0.113.10', mbit: 5 }, { ip: '203.0.113.11', mbit: 10 }]);
    assert.deepEqual(renderShapingDelta('u1', base, next), renderEipClass('u1', { minor: 0x710b, parent: 0, mbit: 10 }));
  });

  test('add and remove', () => {
    const next = planShaping([{ ip: '203.0.113.11', mbit: 5 }, { ip: '203.0.113.12', mbit: 20 }]);
    assert.deepEqual(renderShapingDelta('u1', base, next), ['class del dev u1 classid 1:710a', ...renderEipClass('u1', { minor: 0x710c, parent: 0, mbit: 20 })]);
  });

  test('joining a package moves the class: delete, then the package, then the class under it', () => {
    const next = planShaping([{ ip: '203.0.113.10', mbit: 5, packageId: 'p' }, { ip: '203.0.113.11', mbit: 5 }], [{ id: 'p', mbit: 8 }]);
    const lines = renderShapingDelta('u1', base, next);
    const p = classId(next.classes[0].minor);
    assert.equal(lines[0], 'class del dev u1 classid 1:710a');
    assert.match(lines[1], new RegExp(`^class replace dev u1 parent 1: classid ${p} htb rate 8000kbit`));
    assert.match(lines[2], new RegExp(`^class replace dev u1 parent ${p} classid 1:710a `));
    assert.equal(lines.length, 4);
    // Leaving it again deletes the child before the package.
    const back = renderShapingDelta('u1', next, base);
    assert.deepEqual(back.slice(0, 2), ['class del dev u1 classid 1:710a', `class del dev u1 classid ${p}`]);
  });
});

describe('nft priority maps', () => {
  const base = planShaping([{ ip: '203.0.113.10', mbit: 5 }]);
  test('declaration, statement, element deltas', () => {
    assert.equal(renderPrioMap(UPLOAD_PRIO_MAP), 'map eip_prio_up { type ipv4_addr : classid; }\n');
    assert.equal(renderPrioMap(UPLOAD_PRIO_MAP, base), 'map eip_prio_up { type ipv4_addr : classid; elements = { 203.0.113.10 : 1:710a }; }\n');
    assert.equal(renderPrioStatement('up', 'u1'), 'oifname "u1" meta priority set ip saddr map @eip_prio_up');
    assert.equal(renderPrioStatement('down', 'h1'), 'oifname "h1" meta priority set ip daddr map @eip_prio_down');
    const next = planShaping([{ ip: '203.0.113.11', mbit: 5 }]);
    assert.equal(
      renderPrioDelta(UPLOAD_PRIO_MAP, base, next),
      'delete element inet eci eip_prio_up { 203.0.113.10 }\nadd element inet eci eip_prio_up { 203.0.113.11 : 1:710b }\n',
    );
    assert.equal(renderPrioDelta(UPLOAD_PRIO_MAP, base, planShaping([{ ip: '203.0.113.10', mbit: 50 }])), '');
  });
});
