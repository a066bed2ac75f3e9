// Table tests of the pure instance lifecycle planner with a fake clock and a fake runtime: restart
// policies × exit codes, init container ordering and failure, back-off timing, cap and reset, probe
// thresholds, the active deadline, graceful delete, RestartContainerGroup, adoption after an agent
// restart, and the status / container-state projections.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  containerKey,
  DEFAULT_LIFECYCLE_OPTIONS,
  planInstance,
  recoverMemory,
  type HookResult,
  type ImageObservation,
  type InstanceDesired,
  type InstanceMemory,
  type InstancePlan,
  type InstanceSpec,
  type LifecycleAction,
  type LifecycleEvent,
  type LifecycleOptions,
  type ProbeResult,
  type RuntimeState,
  type StartError,
} from '../../src/agent/runtime/lifecycle.ts';
import { emptyContainer } from '../../src/api/resources/container-group.ts';
import { presentContainerState, projectObservedPodStatus } from '../../src/core/container-status.ts';
import type { ContainerSpec, ProbeSpec } from '../../src/core/model.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const OPTS: LifecycleOptions = { backoffBaseMs: 1_000, backoffMaxMs: 8_000, backoffResetMs: 20_000, killRetryMs: 1_000 };
const at = (s: number): string => new Date(T0 + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

function container(name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return { ...emptyContainer(name), Image: 'busybox', Commands: ['sleep', '3600'], ...extra };
}

function probe(extra: Partial<ProbeSpec> = {}): ProbeSpec {
  return { Exec: { Command: ['true'] }, InitialDelaySeconds: 0, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3, ...extra };
}

function spec(extra: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    ContainerGroupName: 'web',
    Containers: [container('app')],
    InitContainers: [],
    RestartPolicy: 'Always',
    TerminationGracePeriodSeconds: 30,
    ActiveDeadlineSeconds: 0,
    ...extra,
  };
}

type ProbeAnswer = (a: Extract<LifecycleAction, { kind: 'probe' }>) => { ok: boolean; message: string } | undefined;

/**
 * A fake runtime and agent loop: applies each plan's actions the way the real agent would (a start
 * makes the run appear running at once; SIGKILL ends it with 137, SIGTERM with 143 unless the container
 * ignores it), answers probes through `probeAnswer` in the next round, and keeps every action and event.
 */
class Sim {
  now = T0;
  desired: InstanceDesired;
  runtime: Record<string, RuntimeState> = {};
  memory: InstanceMemory | undefined;
  probeResults: ProbeResult[] = [];
  hookResults: HookResult[] = [];
  startErrors: StartError[] = [];
  /** The agent's image view; undefined = images are not managed (every start goes ahead). */
  images: Record<string, ImageObservation> | undefined;
  actions: { t: number; a: LifecycleAction }[] = [];
  events: { t: number; e: LifecycleEvent }[] = [];
  last!: InstancePlan;
  probeAnswer: ProbeAnswer = () => ({ ok: true, message: '' });
  ignoresTerm = new Set<string>();
  failStart = new Map<string, string>();
  heldHooks: Extract<LifecycleAction, { kind: 'hook' }>[] = [];
  holdHooks = false;

  constructor(s: InstanceSpec, more: Partial<InstanceDesired> = {}) {
    this.desired = { spec: s, ...more };
  }

  tick(): InstancePlan {
    const plan = planInstance(
      this.desired,
      { memory: this.memory, runtime: this.runtime, probeResults: this.probeResults, hookResults: this.hookResults, startErrors: this.startErrors, images: this.images },
      this.now,
      OPTS,
    );
    this.memory = plan.memory;
    this.probeResults = [];
    this.hookResults = [];
    this.startErrors = [];
    this.last = plan;
    for (const e of plan.events) this.events.push({ t: this.now, e });
    for (const a of plan.actions) {
      this.actions.push({ t: this.now, a });
      const rt = this.runtime[a.key];
      if (a.kind === 'start') {
        const err = this.failStart.get(a.key);
        if (err) this.startErrors.push({ key: a.key, run: a.run, message: err });
        else this.runtime[a.key] = { state: 'running', run: a.run, startedAt: this.now };
      } else if (a.kind === 'kill' && rt?.state === 'running') {
        if (a.signal === 'SIGKILL') this.exit(a.key, 137);
        else if (!this.ignoresTerm.has(a.key)) this.exit(a.key, 143);
      } else if (a.kind === 'probe') {
        const r = this.probeAnswer(a);
        if (r) this.probeResults.push({ key: a.key, run: a.run, probe: a.probe, ...r });
      } else if (a.kind === 'hook') {
        if (this.holdHooks) this.heldHooks.push(a);
        else this.hookResults.push({ key: a.key, run: a.run, hook: 'PreStop', ok: true, message: '' });
      }
    }
    return plan;
  }

  /** Advances the clock to `s` seconds after T0 and plans. */
  at(s: number): InstancePlan {
    this.now = T0 + s * 1000;
    return this.tick();
  }

  /**
   * Plans as the agent does until `s` seconds (inclusive): at once while results are waiting to be
   * absorbed, else at each wakeAt.
   */
  runUntil(s: number): void {
    const end = T0 + s * 1000;
    for (let i = 0; i < 1000; i++) {
      const pending = this.probeResults.length + this.hookResults.length + this.startErrors.length > 0;
      if (!pending && (this.last.wakeAt === undefined || this.last.wakeAt > end)) break;
      if (!pending) this.now = Math.max(this.now, this.last.wakeAt ?? this.now);
      this.tick();
    }
    this.now = end;
  }

  exit(key: string, code: number, opts: { oom?: boolean } = {}): void {
    const rt = this.runtime[key];
    assert.ok(rt && rt.state === 'running', `${key} is running`);
    this.runtime[key] = { state: 'exited', run: rt.run, startedAt: rt.startedAt, finishedAt: this.now, exitCode: code, oomKilled: opts.oom };
  }

  /** Exits `key` with `code` at `s` seconds and plans. */
  exitAt(s: number, key: string, code: number, opts: { oom?: boolean } = {}): InstancePlan {
    this.now = T0 + s * 1000;
    this.exit(key, code, opts);
    return this.tick();
  }

  starts(key: string): number[] {
    return this.actions.filter((x) => x.a.kind === 'start' && x.a.key === key).map((x) => (x.t - T0) / 1000);
  }

  kinds(plan: InstancePlan = this.last): string[] {
    return plan.actions.map((a) => (a.kind === 'kill' ? `kill ${a.container} ${a.signal}` : `${a.kind} ${a.container}${a.kind === 'probe' ? ' ' + a.probe : ''}`));
  }

  reasons(from = 0): string[] {
    return this.events.filter((x) => x.t >= T0 + from * 1000).map((x) => x.e.reason);
  }

  app(i = 0) {
    return this.last.status.containers[i];
  }
}

describe('lifecycle: restart policy × exit code', () => {
  // [policy, exit code, restarted?, group status after the exit]
  const table: ['Always' | 'OnFailure' | 'Never', number, boolean, string][] = [
    ['Always', 0, true, 'Running'],
    ['Always', 1, true, 'Running'],
    ['Always', 137, true, 'Running'],
    ['OnFailure', 0, false, 'Succeeded'],
    ['OnFailure', 1, true, 'Running'],
    ['OnFailure', 143, true, 'Running'],
    ['Never', 0, false, 'Succeeded'],
    ['Never', 1, false, 'Failed'],
    ['Never', 137, false, 'Failed'],
  ];
  for (const [policy, code, restarted, status] of table) {
    it(`${policy} with exit ${code} → ${restarted ? 'restart' : 'no restart'}, ${status}`, () => {
      const sim = new Sim(spec({ RestartPolicy: policy }));
      assert.deepEqual(sim.kinds(sim.at(0)), ['start app']);
      assert.equal(sim.last.status.status, 'Pending', 'Pending until the container runs');
      sim.at(1);
      assert.equal(sim.last.status.status, 'Running');
      assert.equal(sim.app().CurrentState.State, 'Running');
      assert.equal(sim.app().CurrentState.StartTime, at(0));
      const plan = sim.exitAt(5, 'app', code);
      assert.equal(plan.status.status, status);
      assert.deepEqual(sim.starts('app'), restarted ? [0, 5] : [0], 'the first restart is immediate');
      const c = sim.app();
      const reason = code === 0 ? 'Completed' : 'Error';
      const terminated = { State: 'Terminated', Reason: reason, Message: '', DetailStatus: '', ExitCode: code, Signal: code > 128 ? code - 128 : 0, StartTime: at(0), FinishTime: at(5) };
      if (restarted) {
        assert.equal(c.RestartCount, 1);
        assert.deepEqual(c.PreviousState, terminated);
        assert.equal(c.CurrentState.State, 'Waiting');
        assert.equal(c.CurrentState.Reason, 'ContainerCreating');
        sim.at(6);
        assert.equal(sim.app().CurrentState.State, 'Running');
        assert.equal(sim.app().CurrentState.StartTime, at(5));
      } else {
        assert.equal(c.RestartCount, 0);
        assert.deepEqual(c.CurrentState, terminated);
        assert.equal(c.PreviousState, undefined);
        assert.equal(plan.status.finishTime, at(5));
        assert.equal(plan.status.settled, true);
        // Final: nothing is ever started again.
        sim.at(100);
        assert.deepEqual(sim.last.actions, []);
        assert.equal(sim.last.status.status, status);
      }
      if (status === 'Failed') assert.match(plan.status.message, new RegExp(`Container app exited with code ${code}`));
    });
  }

  it('Never: the group runs until its last container ends, and fails if any exited non-zero', () => {
    const sim = new Sim(spec({ RestartPolicy: 'Never', Containers: [container('a'), container('b')] }));
    assert.deepEqual(sim.kinds(sim.at(0)), ['start a', 'start b'], 'app containers start together');
    sim.at(1);
    assert.equal(sim.exitAt(2, 'a', 0).status.status, 'Running', 'one container still runs');
    const plan = sim.exitAt(4, 'b', 3);
    assert.equal(plan.status.status, 'Failed');
    assert.equal(plan.status.finishTime, at(4));
    assert.equal(plan.status.containers[0].CurrentState.Reason, 'Completed');
    assert.equal(plan.status.containers[1].CurrentState.ExitCode, 3);
  });

  it('OnFailure: Succeeded only when every container exited 0', () => {
    const sim = new Sim(spec({ RestartPolicy: 'OnFailure', Containers: [container('a'), container('b')] }));
    sim.at(0);
    sim.exitAt(1, 'a', 0);
    sim.exitAt(2, 'b', 1);
    assert.equal(sim.last.status.status, 'Running', 'b restarts');
    assert.deepEqual(sim.starts('b'), [0, 2]);
    sim.exitAt(3, 'b', 0);
    assert.equal(sim.last.status.status, 'Succeeded');
    assert.equal(sim.last.status.containers[1].RestartCount, 1);
  });

  it('reports OOMKilled and the signal of a signalled exit', () => {
    const sim = new Sim(spec({ RestartPolicy: 'Never' }));
    sim.at(0);
    const plan = sim.exitAt(2, 'app', 137, { oom: true });
    assert.equal(plan.status.containers[0].CurrentState.Reason, 'OOMKilled');
    assert.equal(plan.status.containers[0].CurrentState.Signal, 9);
    assert.equal(plan.status.status, 'Failed');
  });

  it('emits Pulled, Created, Started once per run, also for a run that ended between two rounds', () => {
    const sim = new Sim(spec({ RestartPolicy: 'Always' }));
    sim.at(0);
    assert.deepEqual(sim.reasons(), [], 'nothing happened yet: the start is only issued');
    sim.at(1);
    assert.deepEqual(sim.reasons(), ['Pulled', 'Created', 'Started']);
    assert.equal(sim.events[1].e.message, 'Created container app');
    assert.equal(sim.events[0].e.message, 'Container image "busybox" already present on machine');
    // Run 1 starts and exits before the next round sees it running.
    sim.exitAt(2, 'app', 1);
    sim.now = T0 + 2500;
    sim.exit('app', 1);
    sim.tick();
    assert.deepEqual(sim.reasons(2), ['Pulled', 'Created', 'Started', 'BackOff']);
  });

  it('does not count a stale observation of the previous run twice', () => {
    const sim = new Sim(spec({ RestartPolicy: 'Always' }));
    sim.failStart.set('app', 'no runc today');
    sim.at(0);
    sim.failStart.clear();
    sim.at(0.5); // the StartError is absorbed: run 0 ended with StartError
    assert.equal(sim.last.status.containers[0].PreviousState?.Reason, 'StartError');
    // The runtime still shows nothing and then an old exited run: neither restarts anything.
    sim.runtime.app = { state: 'exited', run: 0, startedAt: T0, finishedAt: T0, exitCode: 1 };
    const before = sim.actions.length;
    sim.at(0.6);
    assert.equal(sim.actions.length, before);
  });
});

describe('lifecycle: start errors and vanished containers', () => {
  it('a StartError is a failed run: a Warning event, then the restart policy', () => {
    for (const [policy, status] of [['Never', 'Failed'], ['Always', 'Pending']] as const) {
      const sim = new Sim(spec({ RestartPolicy: policy }));
      sim.failStart.set('app', 'exec: "nope": executable file not found');
      sim.at(0);
      const plan = sim.at(1);
      assert.equal(plan.status.status, status, policy);
      assert.deepEqual(plan.events, [{ type: 'Warning', reason: 'Failed', message: 'Error: exec: "nope": executable file not found' }]);
      const state = policy === 'Never' ? plan.status.containers[0].CurrentState : plan.status.containers[0].PreviousState;
      assert.equal(state?.Reason, 'StartError');
      assert.equal(state?.ExitCode, 128);
    }
  });

  it('a StartError or an unknown exit reported by the runtime itself', () => {
    const sim = new Sim(spec({ RestartPolicy: 'Never', Containers: [container('a'), container('b')] }));
    sim.at(0);
    sim.runtime.a = { state: 'exited', run: 0, startedAt: T0, finishedAt: T0 + 10, exitCode: 128, reason: 'StartError', message: 'exec: "x": not found' };
    sim.runtime.b = { state: 'running', run: 0, startedAt: T0 };
    sim.at(1);
    assert.deepEqual(sim.reasons(), ['Failed', 'Pulled', 'Created', 'Started'], 'no Started event for a run that never ran');
    assert.equal(sim.app(0).CurrentState.Reason, 'StartError');
    assert.equal(sim.app(0).Started, false);
    sim.runtime.b = { state: 'exited', run: 0, startedAt: T0, finishedAt: T0 + 2000, exitCode: -1, reason: 'Unknown' };
    sim.at(2);
    assert.deepEqual({ ...sim.app(1).CurrentState }, { State: 'Terminated', Reason: 'ContainerStatusUnknown', Message: '', DetailStatus: '', ExitCode: 137, Signal: 9, StartTime: at(0), FinishTime: at(2) });
    assert.equal(sim.last.status.status, 'Failed');
  });

  it('a running container that vanishes is ContainerStatusUnknown and restarts by policy', () => {
    const sim = new Sim(spec({ RestartPolicy: 'OnFailure' }));
    sim.at(0);
    sim.at(1);
    delete sim.runtime.app;
    const plan = sim.at(3);
    assert.equal(plan.status.containers[0].PreviousState?.Reason, 'ContainerStatusUnknown');
    assert.equal(plan.status.containers[0].PreviousState?.ExitCode, 137);
    assert.deepEqual(sim.starts('app'), [0, 3]);
  });
});

describe('lifecycle: init containers', () => {
  const withInits = (policy: 'Always' | 'OnFailure' | 'Never') =>
    spec({ RestartPolicy: policy, InitContainers: [container('i1'), container('i2')], Containers: [container('a'), container('b')] });
  const i1 = containerKey('init', 'i1');
  const i2 = containerKey('init', 'i2');

  it('run one at a time in order, each after the previous exits 0; app containers after all', () => {
    const sim = new Sim(withInits('Always'));
    assert.deepEqual(sim.kinds(sim.at(0)), ['start i1']);
    assert.equal(sim.last.status.status, 'Pending');
    assert.equal(sim.app(0).CurrentState.Reason, 'PodInitializing');
    assert.deepEqual(sim.kinds(sim.at(1)), [], 'i2 waits for i1');
    assert.deepEqual(sim.kinds(sim.exitAt(2, i1, 0)), ['start i2']);
    assert.equal(sim.last.status.initContainers[0].CurrentState.Reason, 'Completed');
    assert.equal(sim.last.status.status, 'Pending');
    assert.deepEqual(sim.kinds(sim.exitAt(3, i2, 0)), ['start a', 'start b']);
    sim.at(4);
    assert.equal(sim.last.status.status, 'Running');
    assert.deepEqual(sim.starts(i1), [0], 'a succeeded init container never runs again (even under Always)');
    sim.exitAt(10, 'a', 0);
    assert.deepEqual(sim.starts(i1), [0]);
  });

  it('a failing init container fails the group under Never; app containers never start', () => {
    const sim = new Sim(withInits('Never'));
    sim.at(0);
    const plan = sim.exitAt(1, i1, 2);
    assert.equal(plan.status.status, 'Failed');
    assert.equal(plan.status.reason, 'InitContainerFailed');
    assert.equal(plan.status.message, 'Init container i1 exited with code 2');
    assert.equal(plan.status.settled, true);
    assert.deepEqual(plan.actions, []);
    sim.at(50);
    assert.deepEqual(sim.starts('a'), []);
    assert.deepEqual(sim.starts(i2), []);
    assert.equal(sim.last.status.containers[0].CurrentState.State, 'Waiting');
  });

  for (const policy of ['Always', 'OnFailure'] as const) {
    it(`a failing init container is retried with back-off under ${policy}`, () => {
      const sim = new Sim(withInits(policy));
      sim.at(0);
      sim.exitAt(1, i1, 1); // first retry immediate
      sim.exitAt(2, i1, 1); // then 1 s back-off
      assert.equal(sim.last.status.initContainers[0].CurrentState.Reason, 'CrashLoopBackOff');
      assert.equal(sim.last.status.status, 'Pending');
      sim.runUntil(10);
      assert.deepEqual(sim.starts(i1), [0, 1, 3]);
      sim.exitAt(11, i1, 0);
      assert.deepEqual(sim.starts(i2), [11]);
      assert.equal(sim.last.status.initContainers[0].RestartCount, 2);
      assert.deepEqual(sim.starts('a'), []);
    });
  }
});

describe('lifecycle: back-off', () => {
  it('waits 0, base, 2×base … up to the cap between crash-looping runs, with BackOff events', () => {
    const sim = new Sim(spec({ RestartPolicy: 'Always' }));
    sim.at(0);
    // The container crashes as soon as it starts: exit it at every start, follow wakeAt otherwise.
    for (let i = 0; i < 8; i++) {
      sim.exit('app', 1);
      sim.tick();
      if (sim.runtime.app.state !== 'running') {
        assert.ok(sim.last.wakeAt !== undefined);
        sim.now = sim.last.wakeAt;
        sim.tick();
      }
    }
    const starts = sim.starts('app');
    const gaps = starts.slice(1).map((s, i) => s - starts[i]);
    assert.deepEqual(gaps, [0, 1, 2, 4, 8, 8, 8, 8]);
    assert.equal(sim.app().RestartCount, 8);
    const backOffs = sim.events.filter((x) => x.e.reason === 'BackOff');
    assert.equal(backOffs.length, 7, 'one BackOff per waiting period');
    assert.deepEqual(backOffs[0].e, { type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container app in pod web' });
  });

  it('shows CrashLoopBackOff while waiting, then ContainerCreating when the start is issued', () => {
    const sim = new Sim(spec({ RestartPolicy: 'Always' }));
    sim.at(0);
    sim.exitAt(1, 'app', 1);
    sim.exitAt(2, 'app', 1);
    assert.equal(sim.last.wakeAt, T0 + 3000);
    assert.deepEqual(sim.app().CurrentState, {
      State: 'Waiting',
      Reason: 'CrashLoopBackOff',
      Message: 'back-off 1s restarting failed container=app pod=web',
      DetailStatus: 'CrashLoopBackOff',
      StartTime: '',
      FinishTime: '',
    });
    assert.equal(sim.last.status.status, 'Running', 'a restarting container keeps the group Running');
    assert.deepEqual(sim.kinds(sim.at(2.5)), []);
    assert.deepEqual(sim.kinds(sim.at(3)), ['start app']);
    assert.equal(sim.app().CurrentState.Reason, 'ContainerCreating');
  });

  it('resets after a run as long as the reset period', () => {
    const sim = new Sim(spec({ RestartPolicy: 'Always' }));
    sim.at(0);
    sim.exitAt(1, 'app', 1); // immediate
    sim.exitAt(2, 'app', 1); // 1 s
    sim.at(3);
    sim.exitAt(4, 'app', 1); // 2 s
    sim.at(6);
    sim.exitAt(26, 'app', 1); // ran 20 s = reset period: immediate again
    sim.exitAt(27, 'app', 1); // and the next waits base again
    sim.runUntil(40);
    assert.deepEqual(sim.starts('app'), [0, 1, 3, 6, 26, 28]);
  });
});

describe('lifecycle: probes', () => {
  it('liveness: InitialDelay, Period, FailureThreshold consecutive failures → Unhealthy, Killing, restart', () => {
    const c = container('app', { LivenessProbe: probe({ InitialDelaySeconds: 2, PeriodSeconds: 1, FailureThreshold: 3, TimeoutSeconds: 4 }) });
    const sim = new Sim(spec({ Containers: [c] }));
    let n = 0;
    const answers = [false, false, true, false, false, false];
    sim.probeAnswer = () => ({ ok: answers[n++] ?? true, message: 'HTTP probe failed with statuscode: 500' });
    sim.at(0);
    sim.at(1);
    assert.deepEqual(sim.kinds(), [], 'no probe before InitialDelaySeconds');
    assert.equal(sim.last.wakeAt, T0 + 2000);
    sim.at(2);
    assert.deepEqual(sim.kinds(), ['probe app liveness']);
    const pa = sim.last.actions[0];
    assert.ok(pa.kind === 'probe' && pa.timeoutMs === 4000 && pa.run === 0);
    sim.runUntil(6.5);
    // Probes at 2..7: fail, fail, ok (resets), fail, fail, fail → kill after the third consecutive failure.
    const probes = sim.actions.filter((x) => x.a.kind === 'probe').map((x) => (x.t - T0) / 1000);
    assert.deepEqual(probes, [2, 3, 4, 5, 6]);
    assert.deepEqual(sim.starts('app'), [0]);
    sim.at(7);
    assert.deepEqual(sim.kinds(), ['probe app liveness'], 'two consecutive failures so far: no kill');
    sim.at(7.1); // the third consecutive failure arrives
    assert.deepEqual(sim.kinds(), ['kill app SIGTERM']);
    assert.deepEqual(sim.reasons(), ['Pulled', 'Created', 'Started', 'Unhealthy', 'Unhealthy', 'Unhealthy', 'Unhealthy', 'Unhealthy', 'Killing']);
    assert.deepEqual(sim.events.find((x) => x.e.reason === 'Unhealthy')?.e, {
      type: 'Warning',
      reason: 'Unhealthy',
      message: 'Liveness probe failed: HTTP probe failed with statuscode: 500',
    });
    assert.equal(sim.events.at(-1)?.e.message, 'Container app failed liveness probe, will be restarted');
    // The fake runtime ended it with 143; Always restarts it at once, counters start afresh.
    sim.at(8);
    assert.deepEqual(sim.starts('app'), [0, 8]);
    assert.equal(sim.app().PreviousState?.ExitCode, 143);
    assert.equal(sim.app().RestartCount, 1);
  });

  it('liveness failure under Never kills the container and ends the group Failed', () => {
    const c = container('app', { LivenessProbe: probe({ FailureThreshold: 1 }) });
    const sim = new Sim(spec({ Containers: [c], RestartPolicy: 'Never' }));
    sim.probeAnswer = () => ({ ok: false, message: 'timeout' });
    sim.at(0);
    sim.at(0.1); // probe issued
    sim.at(0.2); // result: kill
    assert.deepEqual(sim.kinds(), ['kill app SIGTERM']);
    sim.at(0.3);
    assert.equal(sim.last.status.status, 'Failed');
    assert.equal(sim.app().CurrentState.ExitCode, 143);
  });

  it('a probe still running is not started again', () => {
    const c = container('app', { LivenessProbe: probe({ PeriodSeconds: 1 }) });
    const sim = new Sim(spec({ Containers: [c] }));
    sim.probeAnswer = () => undefined; // never answers
    sim.at(0);
    sim.at(0.5);
    sim.at(5);
    sim.at(10);
    assert.equal(sim.actions.filter((x) => x.a.kind === 'probe').length, 1);
  });

  it('readiness: SuccessThreshold successes make it Ready, FailureThreshold failures unready; no kill', () => {
    const c = container('app', { ReadinessProbe: probe({ SuccessThreshold: 2, FailureThreshold: 2 }) });
    const sim = new Sim(spec({ Containers: [c, container('side')] }));
    const answers = [true, true, false, true, false, false, true];
    let n = 0;
    sim.probeAnswer = () => ({ ok: answers[n++] ?? true, message: 'connection refused' });
    sim.at(0);
    const readiness: boolean[] = [];
    for (let s = 0.5; s <= 7.5; s += 1) {
      sim.at(s);
      readiness.push(sim.app(0).Ready);
    }
    // Results arrive one round after each probe: t, t, f, t, f, f, t →
    assert.deepEqual(readiness, [false, false, true, true, true, true, false, false]);
    assert.equal(sim.app(1).Ready, true, 'no readiness probe: ready while running');
    assert.equal(sim.last.status.ready, false, 'the group is ready only when every container is');
    sim.at(8.5);
    sim.at(9.5);
    assert.equal(sim.app(0).Ready, true);
    assert.equal(sim.last.status.ready, true);
    assert.ok(!sim.actions.some((x) => x.a.kind === 'kill'));
    assert.ok(sim.events.some((x) => x.e.message === 'Readiness probe failed: connection refused'));
  });

  it('ignores a result of a previous run', () => {
    const c = container('app', { ReadinessProbe: probe({ SuccessThreshold: 1 }) });
    const sim = new Sim(spec({ Containers: [c] }));
    sim.probeAnswer = () => undefined;
    sim.at(0);
    sim.at(0.5);
    sim.probeResults.push({ key: 'app', run: 7, probe: 'readiness', ok: true, message: '' });
    sim.at(0.6);
    assert.equal(sim.app().Ready, false);
    sim.probeResults.push({ key: 'app', run: 0, probe: 'readiness', ok: true, message: '' });
    sim.at(0.7);
    assert.equal(sim.app().Ready, true);
  });
});

describe('lifecycle: active deadline', () => {
  it('fails the group with DeadlineExceeded at StartTime + ActiveDeadlineSeconds and kills its containers', () => {
    const sim = new Sim(spec({ ActiveDeadlineSeconds: 10, TerminationGracePeriodSeconds: 3 }));
    sim.ignoresTerm.add('app');
    sim.at(0);
    sim.at(1);
    assert.equal(sim.last.wakeAt, T0 + 10_000);
    sim.at(9.9);
    assert.equal(sim.last.status.status, 'Running');
    sim.at(10);
    assert.equal(sim.last.status.status, 'Failed');
    assert.equal(sim.last.status.reason, 'DeadlineExceeded');
    assert.equal(sim.last.status.message, 'Pod was active on the node longer than the specified deadline');
    assert.equal(sim.last.status.finishTime, at(10));
    assert.equal(sim.last.status.settled, false, 'its container still runs');
    assert.deepEqual(sim.kinds(), ['kill app SIGTERM']);
    assert.equal(sim.last.wakeAt, T0 + 13_000);
    sim.runUntil(13);
    assert.deepEqual(sim.kinds(), ['kill app SIGKILL']);
    sim.at(13.1);
    assert.equal(sim.last.status.settled, true);
    assert.equal(sim.last.status.status, 'Failed');
    assert.equal(sim.app().CurrentState.ExitCode, 137);
    assert.deepEqual(sim.starts('app'), [0], 'never restarted after the deadline');
    assert.deepEqual(sim.reasons(10).slice(0, 2), ['DeadlineExceeded', 'Killing']);
  });
});

describe('lifecycle: graceful delete', () => {
  const hook = { Exec: { Command: ['/bin/sh', '-c', 'sleep 1'] } };

  it('preStop first, then SIGTERM, then SIGKILL after TerminationGracePeriodSeconds', () => {
    const sim = new Sim(spec({ TerminationGracePeriodSeconds: 5, Containers: [container('app', { PreStop: hook })] }));
    sim.ignoresTerm.add('app');
    sim.at(0);
    sim.at(1);
    sim.desired = { ...sim.desired, deleting: true };
    sim.at(10);
    assert.equal(sim.last.status.status, 'Terminating');
    assert.deepEqual(sim.kinds(), ['hook app']);
    const h = sim.last.actions[0];
    assert.ok(h.kind === 'hook' && h.timeoutMs === 5000 && h.hook === 'PreStop');
    sim.at(11); // the hook's result arrives
    assert.deepEqual(sim.kinds(), ['kill app SIGTERM']);
    const term = sim.last.actions[0];
    assert.ok(term.kind === 'kill' && term.graceMs === 4000, 'what is left of the grace period');
    sim.at(14.9);
    assert.deepEqual(sim.kinds(), []);
    assert.equal(sim.last.wakeAt, T0 + 15_000);
    sim.at(15);
    assert.deepEqual(sim.kinds(), ['kill app SIGKILL']);
    sim.at(15.1);
    assert.equal(sim.last.status.settled, true);
    assert.equal(sim.last.status.status, 'Terminating');
    assert.deepEqual(sim.starts('app'), [0], 'Always does not restart a container of a deleted group');
    assert.deepEqual(sim.events.filter((x) => x.e.reason === 'Killing').map((x) => x.e.message), ['Stopping container app']);
  });

  it('without preStop: SIGTERM at once; a container obeying it is gone before the grace ends', () => {
    const sim = new Sim(spec({ Containers: [container('a'), container('b')], RestartPolicy: 'OnFailure' }));
    sim.at(0);
    sim.desired = { ...sim.desired, deleting: true };
    sim.at(1);
    assert.deepEqual(sim.kinds(), ['kill a SIGTERM', 'kill b SIGTERM']);
    sim.at(1.1);
    assert.equal(sim.last.status.settled, true);
    assert.deepEqual(sim.last.actions, []);
    assert.equal(sim.last.status.containers[0].CurrentState.ExitCode, 143);
  });

  it('a preStop hook that hangs does not delay SIGKILL past the grace period', () => {
    const sim = new Sim(spec({ TerminationGracePeriodSeconds: 2, Containers: [container('app', { PreStop: hook })] }));
    sim.holdHooks = true;
    sim.ignoresTerm.add('app');
    sim.at(0);
    sim.desired = { ...sim.desired, deleting: true };
    sim.at(1);
    assert.deepEqual(sim.kinds(), ['hook app']);
    sim.at(2);
    assert.deepEqual(sim.kinds(), []);
    sim.at(3);
    assert.deepEqual(sim.kinds(), ['kill app SIGTERM', 'kill app SIGKILL']);
  });

  it('Force: no hook, no grace', () => {
    const sim = new Sim(spec({ Containers: [container('app', { PreStop: hook })] }));
    sim.ignoresTerm.add('app');
    sim.at(0);
    sim.desired = { ...sim.desired, deleting: true, force: true };
    sim.at(1);
    assert.deepEqual(sim.kinds(), ['kill app SIGTERM', 'kill app SIGKILL']);
  });

  it('re-sends SIGKILL while the container outlives it', () => {
    const sim = new Sim(spec({ TerminationGracePeriodSeconds: 0 }));
    sim.at(0);
    sim.desired = { ...sim.desired, deleting: true };
    sim.runtime.app = { state: 'running', run: 0, startedAt: T0 };
    // A runtime that loses signals: keep it running whatever is sent.
    sim.ignoresTerm.add('app');
    const plan = planInstance(sim.desired, { memory: sim.memory, runtime: sim.runtime }, T0 + 1000, OPTS);
    assert.deepEqual(plan.actions.map((a) => a.kind === 'kill' && a.signal), ['SIGTERM', 'SIGKILL']);
    const again = planInstance(sim.desired, { memory: plan.memory, runtime: sim.runtime }, T0 + 1500, OPTS);
    assert.deepEqual(again.actions, []);
    const third = planInstance(sim.desired, { memory: again.memory, runtime: sim.runtime }, T0 + 2000, OPTS);
    assert.deepEqual(third.actions.map((a) => a.kind === 'kill' && a.signal), ['SIGKILL']);
  });

  it('a group deleted while a container waits in back-off never starts it again', () => {
    const sim = new Sim(spec());
    sim.at(0);
    sim.exitAt(1, 'app', 1);
    sim.exitAt(2, 'app', 1); // back-off until 3
    sim.desired = { ...sim.desired, deleting: true };
    sim.at(2.5);
    assert.equal(sim.last.status.settled, true);
    sim.at(10);
    assert.deepEqual(sim.starts('app'), [0, 1]);
    assert.equal(sim.app().CurrentState.State, 'Terminated');
  });
});

describe('lifecycle: RestartContainerGroup', () => {
  it('stops everything, reruns init containers, then the app containers; Restarting until one runs', () => {
    const i1 = containerKey('init', 'i1');
    const sim = new Sim(spec({ InitContainers: [container('i1')] }));
    sim.at(0);
    sim.exitAt(1, i1, 0);
    sim.at(2);
    assert.equal(sim.last.status.status, 'Running');
    sim.desired = { ...sim.desired, restartToken: '2026-01-01T00:00:05Z' };
    sim.at(5);
    assert.equal(sim.last.status.status, 'Restarting');
    assert.deepEqual(sim.kinds(), ['kill app SIGTERM']);
    sim.at(6);
    assert.deepEqual(sim.kinds(), ['start i1']);
    assert.equal(sim.last.status.status, 'Restarting');
    sim.exitAt(7, i1, 0);
    assert.deepEqual(sim.kinds(), ['start app']);
    sim.at(8);
    assert.equal(sim.last.status.status, 'Running');
    assert.equal(sim.app().RestartCount, 1);
    assert.equal(sim.app().PreviousState?.ExitCode, 143);
    sim.at(20);
    assert.deepEqual(sim.starts('app'), [1, 7], 'the same token restarts only once');
  });
});

describe('lifecycle: UpdateContainerGroup', () => {
  it('restarts every container with the new spec, Updating meanwhile; a removed container is stopped and forgotten', () => {
    const sim = new Sim(spec({ Containers: [container('a'), container('old')] }));
    sim.at(0);
    sim.at(1);
    assert.equal(sim.last.status.status, 'Running');
    sim.desired = {
      spec: spec({ Containers: [container('a', { Commands: ['sleep', '99'] }), container('new')] }),
      restartToken: 'generation:2',
      restartStatus: 'Updating',
    };
    sim.at(5);
    assert.equal(sim.last.status.status, 'Updating');
    assert.deepEqual(sim.kinds().sort(), ['kill a SIGTERM', 'kill old SIGTERM']);
    assert.deepEqual(sim.last.status.containers.map((c) => c.Name), ['a', 'new']);
    sim.at(6);
    assert.deepEqual(sim.kinds(), ['start a', 'start new']);
    assert.equal(sim.last.status.status, 'Updating');
    assert.ok(!('old' in sim.memory!.containers), 'the removed container is forgotten once stopped');
    sim.at(7);
    assert.equal(sim.last.status.status, 'Running');
    assert.deepEqual(sim.starts('old'), [0]);
    assert.equal(sim.app(0).RestartCount, 1);
    assert.equal(sim.app(1).RestartCount, 0);
  });

  it('an agent restarted in the middle of a restart carries it out', () => {
    const s = spec();
    const running = { State: 'Running' as const, Reason: '', Message: '', DetailStatus: '', StartTime: at(0), FinishTime: '' };
    const memory = recoverMemory(
      { spec: s, restartToken: 'tok' },
      { status: 'Restarting', StartTime: at(0), SucceededTime: '', FailedTime: '', ContainerStatuses: [{ Name: 'app', Ready: true, Started: true, RestartCount: 0, CurrentState: running }] },
      T0 + 9000,
    );
    const plan = planInstance({ spec: s, restartToken: 'tok' }, { memory, runtime: { app: { state: 'running', run: 0, startedAt: T0 } } }, T0 + 9000, OPTS);
    assert.deepEqual(plan.actions.map((a) => a.kind === 'kill' && a.signal), ['SIGTERM']);
    assert.equal(plan.status.status, 'Restarting');
  });
});

describe('lifecycle: adoption after an agent restart', () => {
  it('adopts a running container from the persisted statuses without restarting it or repeating events', () => {
    const sim = new Sim(spec({ InitContainers: [container('i1')], Containers: [container('app', { ReadinessProbe: probe() })] }));
    sim.at(0);
    sim.exitAt(1, containerKey('init', 'i1'), 0);
    sim.exitAt(2, 'app', 1);
    sim.at(3);
    const st = sim.last.status;
    assert.equal(st.status, 'Running');
    const memory = recoverMemory(
      sim.desired,
      { status: st.status, ContainerStatuses: st.containers, InitContainerStatuses: st.initContainers, StartTime: st.startTime, SucceededTime: '', FailedTime: '' },
      T0 + 60_000,
    );
    const plan = planInstance(sim.desired, { memory, runtime: sim.runtime }, T0 + 60_000, OPTS);
    assert.deepEqual(plan.actions.map((a) => a.kind), ['probe'], 'only the readiness probe; no start');
    assert.deepEqual(plan.events, []);
    assert.equal(plan.status.status, 'Running');
    assert.equal(plan.status.containers[0].RestartCount, 1);
    assert.equal(plan.status.containers[0].PreviousState?.ExitCode, 1);
    assert.equal(plan.status.startTime, at(0));
  });

  it('a start issued just before the crash is adopted when the runtime shows it, issued again otherwise', () => {
    const s = spec();
    const persisted = {
      status: 'Pending',
      StartTime: at(0),
      SucceededTime: '',
      FailedTime: '',
      ContainerStatuses: [
        { Name: 'app', Ready: false, Started: false, RestartCount: 0, CurrentState: { State: 'Waiting' as const, Reason: 'ContainerCreating', Message: '', DetailStatus: '', StartTime: '', FinishTime: '' } },
      ],
    };
    const memory = recoverMemory({ spec: s }, persisted, T0 + 5000);
    const adopted = planInstance({ spec: s }, { memory, runtime: { app: { state: 'running', run: 0, startedAt: T0 + 1000 } } }, T0 + 5000, OPTS);
    assert.deepEqual(adopted.actions, []);
    assert.equal(adopted.status.status, 'Running');
    const again = planInstance({ spec: s }, { memory, runtime: {} }, T0 + 5000, OPTS);
    assert.deepEqual(again.actions.map((a) => a.kind === 'start' && a.run), [0]);
  });

  it('a container that ended while no agent watched is judged by its restart policy; a final group stays final', () => {
    const s = spec({ RestartPolicy: 'Never' });
    const running = { State: 'Running' as const, Reason: '', Message: '', DetailStatus: '', StartTime: at(0), FinishTime: '' };
    const memory = recoverMemory({ spec: s }, { status: 'Running', StartTime: at(0), SucceededTime: '', FailedTime: '', ContainerStatuses: [{ Name: 'app', Ready: true, Started: true, RestartCount: 0, CurrentState: running }] }, T0 + 9000);
    const plan = planInstance({ spec: s }, { memory, runtime: { app: { state: 'exited', run: 0, startedAt: T0, finishedAt: T0 + 4000, exitCode: 0 } } }, T0 + 9000, OPTS);
    assert.equal(plan.status.status, 'Succeeded');
    assert.equal(plan.status.finishTime, at(4));
    const after = recoverMemory(
      { spec: s },
      { status: 'Succeeded', StartTime: at(0), SucceededTime: at(4), FailedTime: '', ContainerStatuses: plan.status.containers },
      T0 + 20_000,
    );
    const later = planInstance({ spec: s }, { memory: after, runtime: {} }, T0 + 20_000, OPTS);
    assert.equal(later.status.status, 'Succeeded');
    assert.deepEqual(later.actions, []);
  });
});

describe('lifecycle: statuses', () => {
  it('Pending until every app container has started; then Running', () => {
    const sim = new Sim(spec({ Containers: [container('a'), container('b')] }));
    sim.failStart.set('b', 'boom');
    sim.at(0);
    sim.at(1);
    assert.equal(sim.last.status.status, 'Pending', 'b never started');
    assert.equal(sim.last.status.containers[0].CurrentState.State, 'Running');
    sim.failStart.clear();
    sim.runUntil(2);
    sim.at(2.1);
    assert.equal(sim.last.status.status, 'Running');
    assert.equal(sim.last.status.containers[1].Started, true);
  });

  it('what the agent writes is what the API presents (core/container-status.ts)', () => {
    const s = spec({ InitContainers: [container('setup')], Containers: [container('app', { ReadinessProbe: probe() }), container('side')] });
    const sim = new Sim(s);
    sim.at(0);
    sim.exitAt(1, containerKey('init', 'setup'), 0);
    sim.at(2);
    sim.exitAt(3, 'side', 2); // immediate restart
    sim.at(4);
    sim.at(5);
    const st = sim.last.status;
    assert.equal(st.status, 'Running');
    // The agent persists these fields on the group row.
    const data = {
      Containers: s.Containers,
      InitContainers: s.InitContainers,
      ContainerStatuses: st.containers,
      InitContainerStatuses: st.initContainers,
      StartTime: st.startTime,
      StatusReason: st.reason,
      StatusMessage: st.message,
      IntranetIp: '192.168.0.7',
      StatusTime: at(4),
    };
    assert.deepEqual(presentContainerState('Running', st.containers[1]), {
      Ready: true,
      RestartCount: 1,
      CurrentState: { State: 'Running', DetailStatus: '', Reason: '', Message: '', StartTime: at(3), FinishTime: '' },
      PreviousState: { State: 'Terminated', DetailStatus: '', Reason: 'Error', Message: '', ExitCode: 2, Signal: 0, StartTime: at(1), FinishTime: at(3) },
    });
    assert.deepEqual(presentContainerState('Running', st.initContainers[0]).CurrentState, {
      State: 'Terminated', DetailStatus: '', Reason: 'Completed', Message: '', ExitCode: 0, Signal: 0, StartTime: at(0), FinishTime: at(1),
    });
    assert.equal(presentContainerState('Scheduling', undefined).CurrentState.Reason, 'Scheduling');
    const pod = projectObservedPodStatus('Running', data, '10.1.0.2');
    assert.equal(pod.Phase, 'Running');
    assert.equal(pod.StartTime, at(0));
    assert.equal(pod.HostIp, '10.1.0.2');
    assert.deepEqual(
      pod.Conditions.map((c) => [c.type, c.status]),
      [['Initialized', 'True'], ['Ready', 'True'], ['ContainersReady', 'True'], ['PodScheduled', 'True']],
    );
    const side = pod.ContainerStatuses[1];
    assert.deepEqual(side.State, { Running: { StartedAt: at(3) } });
    assert.deepEqual(side.LastState, { Terminated: { ExitCode: 2, Signal: 0, Reason: 'Error', Message: '', StartedAt: at(1), FinishedAt: at(3), ContainerID: '' } });
    assert.equal(side.RestartCount, 1);
    assert.equal(pod.InitContainerStatuses?.[0].State.Terminated?.Reason, 'Completed');
    // Before any report: the placeholder projection.
    const before = projectObservedPodStatus('Pending', { ...data, ContainerStatuses: undefined });
    assert.equal(before.ContainerStatuses[0].State.Waiting?.Reason, 'ContainerCreating');
  });

  it('the defaults are the kubelet numbers', () => {
    assert.deepEqual({ ...DEFAULT_LIFECYCLE_OPTIONS }, { backoffBaseMs: 10_000, backoffMaxMs: 300_000, backoffResetMs: 600_000, killRetryMs: 2_000 });
  });
});

describe('lifecycle: image pulls', () => {
  const pullsOf = (sim: Sim) => sim.actions.filter((x) => x.a.kind === 'pull').map((x) => ({ t: (x.t - T0) / 1000, run: (x.a as { run: number }).run }));

  it('IfNotPresent with the image absent: pull first, start once pulled, and say Pulled only once (the agent says it)', () => {
    const sim = new Sim(spec());
    sim.images = { app: { present: false } };
    sim.at(0);
    assert.deepEqual(sim.kinds(), ['pull app']);
    assert.equal(sim.app().CurrentState.Reason, 'ContainerCreating');
    assert.equal(sim.last.status.status, 'Pending');
    sim.images = { app: { present: false, pull: { run: 0, state: 'pulling' } } };
    sim.at(1);
    assert.deepEqual(sim.kinds(), [], 'no second pull while one runs, no start');
    sim.images = { app: { present: true, pull: { run: 0, state: 'pulled' } } };
    sim.at(2);
    assert.deepEqual(sim.kinds(), ['start app']);
    sim.at(2);
    assert.equal(sim.last.status.status, 'Running');
    assert.deepEqual(sim.reasons(), ['Created', 'Started'], 'no "already present" Pulled event after a real pull');
  });

  it('IfNotPresent with the image present starts at once and says it was already present', () => {
    const sim = new Sim(spec());
    sim.images = { app: { present: true } };
    sim.at(0);
    assert.deepEqual(sim.kinds(), ['start app']);
    sim.at(0);
    assert.deepEqual(sim.reasons(), ['Pulled', 'Created', 'Started']);
    assert.match(sim.events[0].e.message, /already present on machine/);
  });

  it('Always pulls for every start, also a restart, even when the image is present', () => {
    const sim = new Sim(spec({ Containers: [container('app', { ImagePullPolicy: 'Always' })] }));
    sim.images = { app: { present: true } };
    sim.at(0);
    assert.deepEqual(sim.kinds(), ['pull app']);
    sim.images = { app: { present: true, pull: { run: 0, state: 'pulled' } } };
    sim.at(1);
    assert.deepEqual(sim.kinds(), ['start app']);
    sim.exitAt(5, 'app', 1);
    sim.at(5);
    assert.deepEqual(pullsOf(sim), [{ t: 0, run: 0 }, { t: 5, run: 1 }], 'run 1 needs its own pull; the pull of run 0 does not count');
    assert.deepEqual(sim.starts('app'), [1]);
    sim.images = { app: { present: true, pull: { run: 1, state: 'pulled' } } };
    sim.at(6);
    assert.deepEqual(sim.starts('app'), [1, 6]);
    assert.equal(sim.app().RestartCount, 1);
  });

  it('a failed pull: ErrImagePull, then ImagePullBackOff until the agent\'s retry time, told once; no restart is counted', () => {
    const sim = new Sim(spec());
    sim.images = { app: { present: false } };
    sim.at(0);
    sim.images = { app: { present: false, pull: { run: 0, state: 'failed', message: 'UNAUTHORIZED: authentication required', retryAt: T0 + 10_000 } } };
    sim.at(1);
    assert.equal(sim.app().CurrentState.Reason, 'ImagePullBackOff');
    assert.match(sim.app().CurrentState.Message, /Back-off pulling image "busybox": UNAUTHORIZED/);
    assert.equal(sim.last.wakeAt, T0 + 10_000);
    sim.at(2);
    sim.at(3);
    assert.equal(sim.events.filter((x) => x.e.reason === 'BackOff').length, 1, 'the back-off is told once, not every round');
    assert.deepEqual(pullsOf(sim), [{ t: 0, run: 0 }], 'no pull during the back-off');
    sim.at(10);
    assert.deepEqual(pullsOf(sim), [{ t: 0, run: 0 }, { t: 10, run: 0 }], 'retried once the back-off passed');
    assert.equal(sim.app().CurrentState.Reason, 'ErrImagePull');
    assert.equal(sim.app().RestartCount, 0);
    assert.deepEqual(sim.starts('app'), []);
  });

  it('Never: an absent image is ErrImageNeverPull and is never pulled; it starts once the image is there', () => {
    const sim = new Sim(spec({ Containers: [container('app', { ImagePullPolicy: 'Never' })] }));
    sim.images = { app: { present: false } };
    sim.at(0);
    sim.at(1);
    assert.deepEqual(sim.kinds(), []);
    assert.equal(sim.app().CurrentState.Reason, 'ErrImageNeverPull');
    assert.deepEqual(sim.reasons(), ['ErrImageNeverPull']);
    assert.equal(sim.last.wakeAt, T0 + 1000 + OPTS.backoffBaseMs, 'looked at again after the back-off base');
    sim.images = { app: { present: true } };
    sim.at(2);
    assert.deepEqual(sim.kinds(), ['start app']);
    assert.deepEqual(pullsOf(sim), []);
  });

  it('an image from a matched image cache starts without a pull, whatever the policy', () => {
    const sim = new Sim(spec({ Containers: [container('app', { ImagePullPolicy: 'Always' })] }));
    sim.images = { app: { present: true, cached: true } };
    sim.at(0);
    assert.deepEqual(sim.kinds(), ['start app']);
  });

  it('init containers pull in turn: an app container\'s image is not pulled before the init containers are done', () => {
    const sim = new Sim(spec({ InitContainers: [container('init1', { Commands: ['true'] })] }));
    sim.images = { 'init:init1': { present: false }, app: { present: false } };
    sim.at(0);
    assert.deepEqual(sim.kinds(), ['pull init1']);
    assert.equal(sim.app().CurrentState.Reason, 'PodInitializing');
  });

  it('after an agent restart, a restarted container waiting on its image goes on with the next run', () => {
    const s = spec();
    const mem = recoverMemory(
      { spec: s },
      {
        status: 'Running',
        StartTime: at(0),
        SucceededTime: '',
        FailedTime: '',
        ContainerStatuses: [
          {
            Name: 'app',
            Ready: false,
            Started: true,
            RestartCount: 2,
            CurrentState: { State: 'Waiting', Reason: 'ImagePullBackOff', Message: '', DetailStatus: 'ImagePullBackOff', StartTime: '', FinishTime: '' },
          },
        ],
        InitContainerStatuses: [],
      },
      T0 + 60_000,
    );
    const plan = planInstance({ spec: s }, { memory: mem, runtime: {}, images: { app: { present: false } } }, T0 + 60_000, OPTS);
    assert.deepEqual(
      plan.actions.map((a) => [a.kind, a.run]),
      [['pull', 3]],
    );
  });
});
