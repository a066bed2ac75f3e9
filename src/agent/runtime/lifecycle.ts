// The lifecycle of one instance on a host, as a pure planner: given the group's spec, what the agent
// intends (run, delete, restart), the planner's own memory from the previous round and what the
// runtime shows now, it answers what to do (start, kill, probe, run a preStop hook), when to look again,
// the statuses to write back and the events to record. No I/O and no clock: `now` is an argument, so
// every rule is table-tested with a fake clock (test/agent/lifecycle.test.ts).
//
// Semantics follow Kubernetes (kubelet) and the reference's ECI statuses (§2.3):
// - Init containers run one at a time, in order; each must exit 0 before the next starts. A failing one is
//   retried with back-off under Always/OnFailure; under Never the group Fails. App containers start together
//   once every init container succeeded.
// - Restart policy: Always restarts every exit, OnFailure every non-zero exit, Never none. Restarts back
//   off exponentially from the kubelet's numbers: the first restart is immediate, then 10 s doubling to a
//   300 s cap; a run that lasted 10 min resets the back-off (LifecycleOptions make them small in tests).
// - Probes: liveness failing FailureThreshold times in a row kills the container (then the restart policy
//   applies to its exit); readiness drives Ready (SuccessThreshold successes make it ready,
//   FailureThreshold failures unready); InitialDelaySeconds and PeriodSeconds schedule them, the executor
//   bounds each run by TimeoutSeconds. A container without a readiness probe is ready while it runs.
// - Killing (liveness, deadline, restart, delete): the preStop hook when declared, then SIGTERM, then
//   SIGKILL once TerminationGracePeriodSeconds have passed since the kill began (ForceDelete: no grace).
// - ActiveDeadlineSeconds, counted from the group's StartTime: the group becomes Failed/DeadlineExceeded
//   at once and its containers are killed.
// - Group status: Terminating while deleting; Succeeded/Failed once final (never left again);
//   Restarting (or Updating) while a RestartContainerGroup (UpdateContainerGroup) is being carried out: every
//   container is stopped, then init containers and app containers run again; Pending until every app container has
//   started once; then Running (≥1 running or restarting). Never: the instance ends when its containers
//   end, Succeeded if all exited 0, else Failed. OnFailure: Succeeded when all exited 0.
//
// Contract with the agent that applies a plan:
// - Runs are numbered per container from 0; a `start` action carries the run number, and the runtime
//   reports the run of the container it holds, so a stale observation of the previous run is never counted
//   twice and an agent restarted after `kill -9` adopts a run instead of restarting it (recoverMemory).
//   The run number is the container's RestartCount.
// - Every `start` is answered by the runtime showing that run (running or exited) or by a StartError.
//   A `start` of a run the runtime already holds (running or exited) is a no-op: after an agent restart
//   the planner may issue it again. Before starting run N the runtime removes run N-1's container.
//   Every `probe` and `hook` action is answered by a result in a later round (the executor enforces the
//   timeout). Actions are idempotent to repeat, but the planner does not repeat them except SIGKILL.
// - Call planInstance again at `wakeAt` at the latest, and whenever the runtime changes or results arrive.
//   Keep `memory` for the next round; after an agent restart rebuild it with recoverMemory from the
//   persisted statuses.

import type { ContainerGroupData, ContainerSpec, ContainerStateData, ContainerStatusData, LifecycleHandlerSpec, ProbeSpec } from '../../core/model.ts';
import { rfc3339 } from '../../core/time.ts';

export interface LifecycleOptions {
  /** First back-off delay (after the immediate first restart). Kubelet: 10 s. */
  readonly backoffBaseMs: number;
  /** Back-off cap. Kubelet: 300 s. */
  readonly backoffMaxMs: number;
  /** A run at least this long resets the back-off. Kubelet: 10 min. */
  readonly backoffResetMs: number;
  /** SIGKILL is sent again this often while a container outlives it (a lost signal, a stuck runtime). */
  readonly killRetryMs: number;
}

export const DEFAULT_LIFECYCLE_OPTIONS: LifecycleOptions = Object.freeze({
  backoffBaseMs: 10_000,
  backoffMaxMs: 300_000,
  backoffResetMs: 600_000,
  killRetryMs: 2_000,
});

/** The parts of the persisted spec the lifecycle reads. */
export type InstanceSpec = Pick<
  ContainerGroupData,
  'ContainerGroupName' | 'Containers' | 'InitContainers' | 'RestartPolicy' | 'TerminationGracePeriodSeconds' | 'ActiveDeadlineSeconds'
>;

export interface InstanceDesired {
  readonly spec: InstanceSpec;
  /** DeleteContainerGroup: stop everything gracefully, then the agent removes the instance. */
  readonly deleting?: boolean;
  /** With deleting: skip the preStop hook and the grace period (DeleteContainerGroup Force). */
  readonly force?: boolean;
  /**
   * An opaque value that changes with each RestartContainerGroup request (the row's StatusTime while its
   * status is Restarting), or '' / absent. A new value restarts every container, init containers first.
   * An UpdateContainerGroup is carried out the same way (token `generation:<Generation>`, restartStatus
   * Updating): every container restarts with the new spec.
   */
  readonly restartToken?: string;
  /** The group status shown while that restart is under way. Default Restarting. */
  readonly restartStatus?: 'Restarting' | 'Updating';
}

export type ContainerRole = 'init' | 'app';

/** The key of a container in observations and memory: init and app container names may repeat. */
export const containerKey = (role: ContainerRole, name: string): string => (role === 'init' ? `init:${name}` : name);

/** The run of a container the runtime holds now. Times are epoch milliseconds. */
export type RuntimeState =
  | { readonly state: 'absent' }
  | { readonly state: 'running'; readonly run: number; readonly startedAt: number }
  | {
      readonly state: 'exited';
      readonly run: number;
      readonly startedAt: number;
      readonly finishedAt: number;
      /** 128+N when killed by signal N (runc's convention); -1 when unknown. */
      readonly exitCode: number;
      readonly oomKilled?: boolean;
      /** The runtime's verdict when it has one: Completed | Error | OOMKilled | StartError | Unknown. */
      readonly reason?: string;
      readonly message?: string;
    };

export type ProbeKind = 'liveness' | 'readiness';

export interface ProbeResult {
  readonly key: string;
  readonly run: number;
  readonly probe: ProbeKind;
  readonly ok: boolean;
  /** Why it failed, in words (`HTTP probe failed with statuscode: 404`). */
  readonly message: string;
}

export interface HookResult {
  readonly key: string;
  readonly run: number;
  readonly hook: 'PreStop';
  readonly ok: boolean;
  readonly message: string;
}

/**
 * What the agent knows of a container's image, for the start it is about to make. The agent owns the pulls
 * (they run in the background and back off on failure); the planner only decides whether a start may go
 * ahead, asks for a pull when the policy needs one, and shows the wait (ContainerCreating, ErrImagePull,
 * ImagePullBackOff, ErrImageNeverPull) as Kubernetes does.
 */
export interface ImageObservation {
  /** The image is in this host's store (or in the image cache the group matched). */
  readonly present: boolean;
  /**
   * The image comes from a matched image cache: no registry round trip whatever the pull policy (the
   * reference's image cache means "start without pulling again").
   */
  readonly cached?: boolean;
  /** The latest pull for this container: the run it was made for and how it went. */
  readonly pull?: {
    readonly run: number;
    readonly state: 'pulling' | 'pulled' | 'failed';
    /** failed: the registry's error, in words. */
    readonly message?: string;
    /** failed: when the next attempt may be made (the agent's back-off). */
    readonly retryAt?: number;
  };
}

/** A `start` the runtime could not carry out (bad command, missing image…). */
export interface StartError {
  readonly key: string;
  readonly run: number;
  readonly message: string;
}

export interface InstanceObserved {
  /** The planner's memory from the previous round; absent the first time. */
  readonly memory?: InstanceMemory;
  /**
   * By containerKey; a missing key means absent. Include every container the runtime holds for the group,
   * also those the spec no longer has (an update removed them): the planner stops those.
   */
  readonly runtime: Readonly<Record<string, RuntimeState>>;
  readonly probeResults?: readonly ProbeResult[];
  readonly hookResults?: readonly HookResult[];
  readonly startErrors?: readonly StartError[];
  /**
   * By containerKey, for containers whose image the agent manages. A container without an entry starts
   * without any image check (its image is one the runtime resolves by itself, as the built-in busybox).
   */
  readonly images?: Readonly<Record<string, ImageObservation>>;
}

export type LifecycleAction =
  | { readonly kind: 'start'; readonly key: string; readonly role: ContainerRole; readonly container: string; readonly run: number }
  /** Pull the container's image for `run` (policy Always, or IfNotPresent with the image absent); answered by ImageObservation.pull. */
  | { readonly kind: 'pull'; readonly key: string; readonly container: string; readonly image: string; readonly run: number }
  | {
      readonly kind: 'kill';
      readonly key: string;
      readonly container: string;
      readonly run: number;
      readonly signal: 'SIGTERM' | 'SIGKILL';
      /**
       * What is left of the grace period (0 with SIGKILL), for a runtime whose stop does SIGTERM, wait,
       * SIGKILL in one call: such an agent calls stop(graceMs) on SIGTERM and stop(0) on SIGKILL.
       */
      readonly graceMs: number;
    }
  | {
      readonly kind: 'probe';
      readonly key: string;
      readonly container: string;
      readonly run: number;
      readonly probe: ProbeKind;
      readonly spec: ProbeSpec;
      readonly timeoutMs: number;
    }
  | {
      readonly kind: 'hook';
      readonly key: string;
      readonly container: string;
      readonly run: number;
      readonly hook: 'PreStop';
      readonly handler: LifecycleHandlerSpec;
      /** What is left of the grace period: the hook may take no longer. */
      readonly timeoutMs: number;
    };

export interface LifecycleEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export type InstancePhase = 'Pending' | 'Running' | 'Restarting' | 'Updating' | 'Terminating' | 'Succeeded' | 'Failed';

export interface InstanceStatus {
  readonly status: InstancePhase;
  /** As a pod's status.reason (`DeadlineExceeded`), or ''. */
  readonly reason: string;
  readonly message: string;
  /** RFC 3339 (ContainerGroupData.StartTime). */
  readonly startTime: string;
  /** RFC 3339 when Succeeded/Failed (SucceededTime / FailedTime), else ''. */
  readonly finishTime: string;
  /** Every app container is ready. */
  readonly ready: boolean;
  /** Nothing runs and nothing will start again: after a delete the agent may tear the instance down. */
  readonly settled: boolean;
  readonly containers: ContainerStatusData[];
  readonly initContainers: ContainerStatusData[];
}

export interface InstancePlan {
  readonly actions: LifecycleAction[];
  readonly events: LifecycleEvent[];
  readonly status: InstanceStatus;
  /** Plan again at this time (epoch ms) at the latest; undefined when only a runtime change matters. */
  readonly wakeAt: number | undefined;
  readonly memory: InstanceMemory;
}

// ---------------------------------------------------------------------------------------------------
// Memory: what the planner carries between rounds. Plain data (JSON-safe) so the agent may keep or log it.

type ContainerPhase =
  | 'new' // never started in this instance (or reset by a restart request)
  | 'starting' // a start was issued for `run`; waiting for the runtime to show it
  | 'running'
  | 'ended' // the run just ended; the restart policy decides next round
  | 'backoff' // waiting until restartAt to start the next run
  | 'done'; // ended and will not run again

interface ProbeCounter {
  successes: number;
  failures: number;
  nextAt: number;
  inFlight: boolean;
}

interface KillState {
  reason: 'liveness' | 'deadline' | 'restart' | 'delete' | 'removed';
  since: number;
  graceMs: number;
  preStop: 'none' | 'due' | 'running' | 'done';
  termSent: boolean;
  killSentAt?: number;
}

interface StateMs {
  state: 'Waiting' | 'Running' | 'Terminated';
  reason: string;
  message: string;
  exitCode?: number;
  signal?: number;
  startedAt?: number;
  finishedAt?: number;
}

export interface ContainerMemory {
  phase: ContainerPhase;
  /** The current (or last) run's ordinal; the next start uses run + 1 once a run exists. */
  run: number;
  started: boolean;
  current: StateMs;
  previous?: StateMs;
  /** Delay before the next restart; 0 = restart at once. */
  backoffMs: number;
  restartAt?: number;
  ready: boolean;
  liveness?: ProbeCounter;
  readiness?: ProbeCounter;
  kill?: KillState;
  /** The image wait last reported as an event (`<reason>:<run>:<retryAt>`), so a wait is told once. */
  imageWait?: string;
  /** The pull last asked for (`<run>:<retryAt of the failure it retries>`): asked once, answered by the agent. */
  pullAsked?: string;
}

export interface InstanceMemory {
  startedAt: number;
  containers: Record<string, ContainerMemory>;
  final?: { status: 'Succeeded' | 'Failed'; reason: string; message: string; at: number };
  /** The last restart token carried out, and whether that restart is still under way. */
  restartApplied: string;
  restart?: 'stopping' | 'starting';
}

const waiting = (reason: string, message = ''): StateMs => ({ state: 'Waiting', reason, message });

/** Kubernetes shows PodInitializing for every container waiting on init containers, ContainerCreating otherwise. */
const notStarted = (role: ContainerRole, hasInits: boolean): StateMs => waiting(role === 'app' && !hasInits ? 'ContainerCreating' : 'PodInitializing');

function freshContainer(role: ContainerRole, hasInits: boolean): ContainerMemory {
  return {
    phase: 'new',
    run: 0,
    started: false,
    current: notStarted(role, hasInits),
    backoffMs: 0,
    ready: false,
  };
}

// ---------------------------------------------------------------------------------------------------
// Planning.

interface Ctx {
  readonly images: Readonly<Record<string, ImageObservation>> | undefined;
  readonly desired: InstanceDesired;
  readonly spec: InstanceSpec;
  readonly mem: InstanceMemory;
  readonly now: number;
  readonly opts: LifecycleOptions;
  readonly actions: LifecycleAction[];
  readonly events: LifecycleEvent[];
  readonly wakes: number[];
}

interface Entry {
  readonly key: string;
  readonly role: ContainerRole;
  readonly spec: Pick<ContainerSpec, 'Name' | 'Image' | 'PreStop' | 'LivenessProbe' | 'ReadinessProbe'> & { readonly ImagePullPolicy?: ContainerSpec['ImagePullPolicy'] };
  readonly m: ContainerMemory;
}

export function planInstance(desired: InstanceDesired, observed: InstanceObserved, now: number, opts: LifecycleOptions = DEFAULT_LIFECYCLE_OPTIONS): InstancePlan {
  const spec = desired.spec;
  const mem: InstanceMemory = observed.memory ? structuredClone(observed.memory) : { startedAt: now, containers: {}, restartApplied: desired.restartToken ?? '' };
  const ctx: Ctx = { images: observed.images, desired, spec, mem, now, opts, actions: [], events: [], wakes: [] };
  const hasInits = spec.InitContainers.length > 0;
  const inits: Entry[] = spec.InitContainers.map((c) => entry(mem, 'init', c, hasInits));
  const apps: Entry[] = spec.Containers.map((c) => entry(mem, 'app', c, hasInits));
  const all = [...inits, ...apps];

  for (const e of all) absorbRuntime(ctx, e, observed.runtime[e.key] ?? { state: 'absent' });
  for (const r of observed.startErrors ?? []) {
    const e = all.find((x) => x.key === r.key);
    if (e && e.m.run === r.run && e.m.phase === 'starting') {
      ctx.events.push({ type: 'Warning', reason: 'Failed', message: `Error: ${r.message}` });
      endRun(e.m, { state: 'Terminated', reason: 'StartError', message: r.message, exitCode: 128, signal: 0, startedAt: now, finishedAt: now });
    }
  }
  for (const r of observed.hookResults ?? []) {
    const e = all.find((x) => x.key === r.key);
    if (!e || e.m.run !== r.run || e.m.kill?.preStop !== 'running') continue;
    e.m.kill.preStop = 'done';
    if (!r.ok) ctx.events.push({ type: 'Warning', reason: 'FailedPreStopHook', message: `PreStopHook failed: ${r.message}` });
  }
  for (const r of observed.probeResults ?? []) {
    const e = apps.find((x) => x.key === r.key);
    if (e) absorbProbe(ctx, e, r);
  }

  if (desired.deleting) {
    for (const e of all) stopOrRetire(ctx, e, 'delete');
  } else {
    checkDeadline(ctx);
    if (mem.final) {
      for (const e of all) stopOrRetire(ctx, e, 'deadline');
    } else if (desired.restartToken && desired.restartToken !== mem.restartApplied) {
      carryOutRestart(ctx, all, desired.restartToken);
    } else {
      runContainers(ctx, inits, apps);
    }
  }
  for (const e of all) driveKill(ctx, e);
  stopRemoved(ctx, observed, new Set(all.map((e) => e.key)));

  const status = project(ctx, inits, apps);
  const wakeAt = ctx.wakes.length ? Math.min(...ctx.wakes) : undefined;
  return { actions: ctx.actions, events: ctx.events, status, wakeAt, memory: mem };
}

/**
 * Containers the spec no longer has (an update removed them): killed without hooks, forgotten once
 * stopped. The agent removes their runtime state (a runtime container whose key the spec lacks).
 */
function stopRemoved(ctx: Ctx, observed: InstanceObserved, keep: ReadonlySet<string>): void {
  for (const [key, m] of Object.entries(ctx.mem.containers)) {
    if (keep.has(key)) continue;
    const role: ContainerRole = key.startsWith('init:') ? 'init' : 'app';
    const e: Entry = { key, role, spec: { Name: role === 'init' ? key.slice(5) : key, Image: '' }, m };
    absorbRuntime(ctx, e, observed.runtime[key] ?? { state: 'absent' });
    if (m.phase === 'running') {
      beginKill(ctx, e, 'removed');
      driveKill(ctx, e);
    } else if (m.phase !== 'starting') {
      delete ctx.mem.containers[key];
    }
  }
}

function entry(mem: InstanceMemory, role: ContainerRole, spec: ContainerSpec, hasInits: boolean): Entry {
  const key = containerKey(role, spec.Name);
  mem.containers[key] ??= freshContainer(role, hasInits);
  return { key, role, spec, m: mem.containers[key] };
}

/** Folds the runtime's view of the container into memory: new runs, ended runs, vanished containers. */
function absorbRuntime(ctx: Ctx, e: Entry, rt: RuntimeState): void {
  const m = e.m;
  // 'new' too: after an agent restart the run may already exist (adopted rather than started twice).
  const live = m.phase === 'new' || m.phase === 'starting' || m.phase === 'running';
  if (rt.state === 'absent') {
    if (m.phase === 'running') {
      // The container vanished without an exit status (a reboot, a runtime wiped by hand).
      endRun(m, {
        state: 'Terminated',
        reason: 'ContainerStatusUnknown',
        message: 'The container could not be located when its state was checked.',
        exitCode: 137,
        signal: 0,
        startedAt: m.current.startedAt,
        finishedAt: ctx.now,
      });
    }
    return;
  }
  if (rt.run !== m.run || !live) return;
  if (rt.state === 'exited' && rt.reason === 'StartError' && m.phase !== 'running') {
    const message = rt.message ?? '';
    ctx.events.push({ type: 'Warning', reason: 'Failed', message: `Error: ${message}` });
    endRun(m, { state: 'Terminated', reason: 'StartError', message, exitCode: rt.exitCode < 0 ? 128 : rt.exitCode, signal: 0, startedAt: rt.startedAt, finishedAt: rt.finishedAt });
    return;
  }
  if (m.phase !== 'running') {
    m.started = true;
    m.phase = 'running';
    m.current = { state: 'Running', reason: '', message: '', startedAt: rt.startedAt };
    m.ready = false;
    m.liveness = undefined;
    m.readiness = undefined;
    // A pulled image has its own Pulled event (from the agent, with size and time).
    const pulled = ctx.images?.[e.key]?.pull;
    if (!(pulled?.run === rt.run && pulled.state === 'pulled'))
      ctx.events.push({ type: 'Normal', reason: 'Pulled', message: `Container image "${e.spec.Image}" already present on machine` });
    ctx.events.push(
      { type: 'Normal', reason: 'Created', message: `Created container ${e.spec.Name}` },
      { type: 'Normal', reason: 'Started', message: `Started container ${e.spec.Name}` },
    );
  }
  if (rt.state === 'exited') {
    // An unknown exit (the runtime lost the run's owner) counts as killed, as Kubernetes reports it.
    const exitCode = rt.exitCode < 0 ? 137 : rt.exitCode;
    const signal = exitCode > 128 ? exitCode - 128 : 0;
    const reason =
      rt.oomKilled || rt.reason === 'OOMKilled'
        ? 'OOMKilled'
        : rt.exitCode < 0 || rt.reason === 'Unknown'
          ? 'ContainerStatusUnknown'
          : exitCode === 0
            ? 'Completed'
            : 'Error';
    endRun(m, { state: 'Terminated', reason, message: rt.message ?? '', exitCode, signal, startedAt: rt.startedAt, finishedAt: rt.finishedAt });
  }
}

function endRun(m: ContainerMemory, state: StateMs): void {
  m.phase = 'ended';
  m.current = state;
  m.ready = false;
  m.kill = undefined;
  m.liveness = undefined;
  m.readiness = undefined;
}

function absorbProbe(ctx: Ctx, e: Entry, r: ProbeResult): void {
  const m = e.m;
  const pc = r.probe === 'liveness' ? m.liveness : m.readiness;
  const ps = r.probe === 'liveness' ? e.spec.LivenessProbe : e.spec.ReadinessProbe;
  if (!pc || !ps || r.run !== m.run || m.phase !== 'running') return;
  pc.inFlight = false;
  if (r.ok) {
    pc.successes++;
    pc.failures = 0;
    if (r.probe === 'readiness' && pc.successes >= ps.SuccessThreshold) m.ready = true;
    return;
  }
  pc.failures++;
  pc.successes = 0;
  ctx.events.push({ type: 'Warning', reason: 'Unhealthy', message: `${r.probe === 'liveness' ? 'Liveness' : 'Readiness'} probe failed: ${r.message}` });
  if (r.probe === 'readiness' && pc.failures >= ps.FailureThreshold) m.ready = false;
}

function checkDeadline(ctx: Ctx): void {
  const ads = ctx.spec.ActiveDeadlineSeconds;
  if (ctx.mem.final || ads <= 0) return;
  const at = ctx.mem.startedAt + ads * 1000;
  if (ctx.now < at) {
    ctx.wakes.push(at);
    return;
  }
  const message = 'Pod was active on the node longer than the specified deadline';
  ctx.mem.final = { status: 'Failed', reason: 'DeadlineExceeded', message, at: ctx.now };
  ctx.events.push({ type: 'Normal', reason: 'DeadlineExceeded', message });
}

/** Kills a running container (once) or makes sure a stopped one never starts again. */
function stopOrRetire(ctx: Ctx, e: Entry, reason: KillState['reason']): void {
  const m = e.m;
  if (m.phase === 'running') beginKill(ctx, e, reason);
  else if (m.phase === 'new' || m.phase === 'backoff' || m.phase === 'ended') {
    m.phase = 'done';
    m.restartAt = undefined;
    if (m.current.state === 'Waiting' && m.previous) {
      m.current = m.previous;
      m.previous = undefined;
    }
  }
  // 'starting': the run is about to appear; it is killed once it does.
}

function beginKill(ctx: Ctx, e: Entry, reason: KillState['reason']): void {
  const m = e.m;
  if (m.kill) return;
  const force = reason === 'delete' && ctx.desired.force === true;
  const graceMs = force ? 0 : Math.max(0, ctx.spec.TerminationGracePeriodSeconds) * 1000;
  m.kill = { reason, since: ctx.now, graceMs, preStop: e.spec.PreStop && !force ? 'due' : 'none', termSent: false };
  m.ready = false;
  const message =
    reason === 'liveness' ? `Container ${e.spec.Name} failed liveness probe, will be restarted` : `Stopping container ${e.spec.Name}`;
  ctx.events.push({ type: 'Normal', reason: 'Killing', message });
}

/** preStop → SIGTERM → (grace) → SIGKILL, repeated while the container outlives it. */
function driveKill(ctx: Ctx, e: Entry): void {
  const m = e.m;
  const k = m.kill;
  if (!k || m.phase !== 'running') return;
  const deadline = k.since + k.graceMs;
  const base = { key: e.key, container: e.spec.Name, run: m.run };
  if (k.preStop === 'due' && ctx.now < deadline && e.spec.PreStop) {
    ctx.actions.push({ kind: 'hook', ...base, hook: 'PreStop', handler: e.spec.PreStop, timeoutMs: deadline - ctx.now });
    k.preStop = 'running';
  }
  if (!k.termSent && (k.preStop === 'none' || k.preStop === 'done' || ctx.now >= deadline)) {
    ctx.actions.push({ kind: 'kill', ...base, signal: 'SIGTERM', graceMs: Math.max(0, deadline - ctx.now) });
    k.termSent = true;
  }
  if (ctx.now >= deadline) {
    if (k.killSentAt === undefined || ctx.now >= k.killSentAt + ctx.opts.killRetryMs) {
      ctx.actions.push({ kind: 'kill', ...base, signal: 'SIGKILL', graceMs: 0 });
      k.killSentAt = ctx.now;
    }
    ctx.wakes.push(k.killSentAt + ctx.opts.killRetryMs);
  } else {
    ctx.wakes.push(deadline);
  }
}

function carryOutRestart(ctx: Ctx, all: readonly Entry[], token: string): void {
  const mem = ctx.mem;
  mem.restart = 'stopping';
  for (const e of all) if (e.m.phase === 'running') beginKill(ctx, e, 'restart');
  if (all.some((e) => e.m.phase === 'running' || e.m.phase === 'starting')) return;
  // Everything stopped: the next runs start from the first init container, at once (no back-off).
  for (const e of all) {
    const m = e.m;
    if (m.current.state === 'Terminated') m.previous = m.current;
    m.current = notStarted(e.role, all.some((x) => x.role === 'init'));
    m.phase = m.started ? 'backoff' : 'new';
    m.restartAt = ctx.now;
    m.backoffMs = 0;
    m.kill = undefined;
  }
  mem.restartApplied = token;
  mem.restart = 'starting';
  runContainers(ctx, all.filter((e) => e.role === 'init'), all.filter((e) => e.role === 'app'));
}

function runContainers(ctx: Ctx, inits: readonly Entry[], apps: readonly Entry[]): void {
  for (const e of inits) {
    decideEnded(ctx, e);
    if (ctx.mem.final) return;
    if (e.m.phase === 'done' && e.m.current.exitCode === 0) continue;
    drive(ctx, e);
    return; // one init container at a time; the rest wait
  }
  for (const e of apps) {
    decideEnded(ctx, e);
    drive(ctx, e);
  }
  if (apps.length && apps.every((e) => e.m.phase === 'done')) {
    const failed = apps.filter((e) => e.m.current.exitCode !== 0);
    const at = Math.max(...apps.map((e) => e.m.current.finishedAt ?? ctx.now));
    ctx.mem.final = failed.length
      ? { status: 'Failed', reason: '', message: failed.map((e) => `Container ${e.spec.Name} exited with code ${e.m.current.exitCode}`).join('; '), at }
      : { status: 'Succeeded', reason: '', message: '', at };
  }
  if (ctx.mem.restart === 'starting' && apps.some((e) => e.m.phase === 'running')) ctx.mem.restart = undefined;
}

/** The restart policy's verdict on a run that just ended: back off and restart, or done. */
function decideEnded(ctx: Ctx, e: Entry): void {
  const m = e.m;
  if (m.phase !== 'ended') return;
  const code = m.current.exitCode ?? 0;
  const policy = ctx.spec.RestartPolicy;
  const restart = e.role === 'init' ? code !== 0 && policy !== 'Never' : policy === 'Always' || (policy === 'OnFailure' && code !== 0);
  if (!restart) {
    m.phase = 'done';
    if (e.role === 'init' && code !== 0) {
      ctx.mem.final = { status: 'Failed', reason: 'InitContainerFailed', message: `Init container ${e.spec.Name} exited with code ${code}`, at: m.current.finishedAt ?? ctx.now };
    }
    return;
  }
  const finishedAt = m.current.finishedAt ?? ctx.now;
  const lived = finishedAt - (m.current.startedAt ?? finishedAt);
  if (lived >= ctx.opts.backoffResetMs) m.backoffMs = 0;
  const delay = m.backoffMs;
  m.backoffMs = delay === 0 ? ctx.opts.backoffBaseMs : Math.min(delay * 2, ctx.opts.backoffMaxMs);
  m.restartAt = finishedAt + delay;
  m.phase = 'backoff';
  m.previous = m.current;
  m.current = waiting('ContainerCreating');
  if (m.restartAt > ctx.now) {
    const seconds = Math.round(delay / 1000);
    const pod = ctx.spec.ContainerGroupName;
    m.current = waiting('CrashLoopBackOff', `back-off ${seconds}s restarting failed container=${e.spec.Name} pod=${pod}`);
    ctx.events.push({ type: 'Warning', reason: 'BackOff', message: `Back-off restarting failed container ${e.spec.Name} in pod ${pod}` });
  }
}

/** Starts what may start now, schedules probes of what runs, and acts on liveness failures. */
function drive(ctx: Ctx, e: Entry): void {
  const m = e.m;
  const now = ctx.now;
  if (m.phase === 'new' || (m.phase === 'backoff' && (m.restartAt ?? 0) <= now)) {
    if (!imageReady(ctx, e, m.phase === 'backoff' ? m.run + 1 : m.run)) return;
    m.imageWait = undefined;
    if (m.phase === 'backoff') m.run++;
    m.phase = 'starting';
    m.restartAt = undefined;
    // Never CrashLoopBackOff once the start is issued: recoverMemory reads that reason as "not started yet".
    m.current = waiting('ContainerCreating');
    ctx.actions.push({ kind: 'start', key: e.key, role: e.role, container: e.spec.Name, run: m.run });
    return;
  }
  if (m.phase === 'backoff') {
    ctx.wakes.push(m.restartAt ?? now);
    return;
  }
  if (m.phase !== 'running' || m.kill) return;
  if (e.spec.LivenessProbe && m.liveness && m.liveness.failures >= e.spec.LivenessProbe.FailureThreshold) {
    beginKill(ctx, e, 'liveness');
    return;
  }
  if (!e.spec.ReadinessProbe) m.ready = true;
  scheduleProbe(ctx, e, 'liveness', e.spec.LivenessProbe);
  scheduleProbe(ctx, e, 'readiness', e.spec.ReadinessProbe);
}

/**
 * Whether the container's image allows the start of `run` now; otherwise asks for a pull or shows the
 * wait. Policies as the kubelet's: Always pulls for every start, IfNotPresent only when absent, Never
 * never (absent: ErrImageNeverPull, checked again after the back-off base). An image from a matched
 * image cache is present under every policy.
 */
function imageReady(ctx: Ctx, e: Entry, run: number): boolean {
  const img = ctx.images?.[e.key];
  if (!img) return true;
  const m = e.m;
  const policy = e.spec.ImagePullPolicy ?? 'IfNotPresent';
  const image = e.spec.Image;
  const tell = (key: string, event: LifecycleEvent) => {
    if (m.imageWait === key) return;
    m.imageWait = key;
    ctx.events.push(event);
  };
  if (img.cached || (policy !== 'Always' && img.present)) return true;
  if (policy === 'Never') {
    const message = `Container image "${image}" is not present with pull policy of Never`;
    m.current = waiting('ErrImageNeverPull', message);
    tell(`ErrImageNeverPull:${run}`, { type: 'Warning', reason: 'ErrImageNeverPull', message });
    ctx.wakes.push(ctx.now + ctx.opts.backoffBaseMs);
    return false;
  }
  const p = img.pull?.run === run ? img.pull : undefined;
  if (p?.state === 'pulled') return true;
  if (p?.state === 'pulling') {
    m.current = waiting('ContainerCreating');
    return false;
  }
  if (p?.state === 'failed' && (p.retryAt ?? 0) > ctx.now) {
    const message = `Back-off pulling image "${image}": ${p.message ?? ''}`.trimEnd();
    m.current = waiting('ImagePullBackOff', message);
    tell(`ImagePullBackOff:${run}:${p.retryAt}`, { type: 'Normal', reason: 'BackOff', message: `Back-off pulling image "${image}"` });
    ctx.wakes.push(p.retryAt ?? ctx.now);
    return false;
  }
  // No pull for this run yet, or the back-off after a failed one has passed: pull (again), once.
  m.current = p?.state === 'failed' ? waiting('ErrImagePull', p.message ?? '') : waiting('ContainerCreating');
  const ask = `${run}:${p?.retryAt ?? ''}`;
  if (m.pullAsked !== ask) {
    m.pullAsked = ask;
    ctx.actions.push({ kind: 'pull', key: e.key, container: e.spec.Name, image, run });
  }
  return false;
}

function scheduleProbe(ctx: Ctx, e: Entry, kind: ProbeKind, ps: ProbeSpec | undefined): void {
  if (!ps) return;
  const m = e.m;
  const startedAt = m.current.startedAt ?? ctx.now;
  const pc = (m[kind] ??= { successes: 0, failures: 0, nextAt: startedAt + ps.InitialDelaySeconds * 1000, inFlight: false });
  if (pc.inFlight) return;
  if (ctx.now >= pc.nextAt) {
    ctx.actions.push({ kind: 'probe', key: e.key, container: e.spec.Name, run: m.run, probe: kind, spec: ps, timeoutMs: ps.TimeoutSeconds * 1000 });
    pc.inFlight = true;
    pc.nextAt = ctx.now + ps.PeriodSeconds * 1000;
    return;
  }
  ctx.wakes.push(pc.nextAt);
}

// ---------------------------------------------------------------------------------------------------
// Projection to the persisted statuses.

const time = (ms: number | undefined): string => (ms === undefined ? '' : rfc3339(new Date(ms)));

function stateData(s: StateMs): ContainerStateData {
  const out: ContainerStateData = {
    State: s.state,
    Reason: s.reason,
    Message: s.message,
    DetailStatus: s.state === 'Waiting' ? s.reason : '',
    StartTime: time(s.startedAt),
    FinishTime: time(s.finishedAt),
  };
  if (s.state === 'Terminated') {
    out.ExitCode = s.exitCode ?? 0;
    out.Signal = s.signal ?? 0;
  }
  return out;
}

function containerStatus(e: Entry): ContainerStatusData {
  const m = e.m;
  return {
    Name: e.spec.Name,
    Ready: m.ready && m.phase === 'running',
    Started: m.started,
    RestartCount: m.run,
    CurrentState: stateData(m.current),
    ...(m.previous ? { PreviousState: stateData(m.previous) } : {}),
  };
}

function project(ctx: Ctx, inits: readonly Entry[], apps: readonly Entry[]): InstanceStatus {
  const mem = ctx.mem;
  const all = [...inits, ...apps];
  const settled = all.every((e) => e.m.phase !== 'running' && e.m.phase !== 'starting') && (ctx.desired.deleting === true || mem.final !== undefined);
  let status: InstancePhase;
  let reason = '';
  let message = '';
  if (ctx.desired.deleting) status = 'Terminating';
  else if (mem.final) {
    status = mem.final.status;
    reason = mem.final.reason;
    message = mem.final.message;
  } else if (mem.restart) status = ctx.desired.restartStatus ?? 'Restarting';
  else if (apps.length && apps.every((e) => e.m.started)) status = 'Running';
  else status = 'Pending';
  return {
    status,
    reason,
    message,
    startTime: time(mem.startedAt),
    finishTime: status === 'Succeeded' || status === 'Failed' ? time(mem.final?.at) : '',
    ready: apps.length > 0 && apps.every((e) => e.m.ready && e.m.phase === 'running'),
    settled,
    containers: apps.map(containerStatus),
    initContainers: inits.map(containerStatus),
  };
}

// ---------------------------------------------------------------------------------------------------
// Recovery after an agent restart.

const ms = (t: string | undefined): number | undefined => (t ? Date.parse(t) : undefined);

/** Waiting reasons that mean "the next run waits for its image": after a restart its run is RestartCount + 1. */
const IMAGE_WAITS: ReadonlySet<string> = new Set(['ErrImagePull', 'ImagePullBackOff', 'ErrImageNeverPull']);

function fromData(s: ContainerStateData): StateMs {
  return {
    state: s.State,
    reason: s.Reason,
    message: s.Message,
    ...(s.ExitCode !== undefined ? { exitCode: s.ExitCode } : {}),
    ...(s.Signal !== undefined ? { signal: s.Signal } : {}),
    ...(s.StartTime ? { startedAt: ms(s.StartTime) } : {}),
    ...(s.FinishTime ? { finishedAt: ms(s.FinishTime) } : {}),
  };
}

/**
 * Rebuilds the planner's memory from what the agent persisted (ContainerGroupData.*Statuses, StartTime,
 * the group's status). A Running container is adopted when the runtime still shows its run; a container
 * whose run ended while no agent watched is judged by its restart policy next round. Back-off delays and
 * probe counters start afresh (as after a kubelet restart).
 */
export function recoverMemory(
  desired: InstanceDesired,
  persisted: Pick<ContainerGroupData, 'ContainerStatuses' | 'InitContainerStatuses' | 'StartTime' | 'StatusReason' | 'StatusMessage' | 'SucceededTime' | 'FailedTime'> & { status: string },
  now: number,
): InstanceMemory {
  // A restart or update under way when the agent stopped is carried out (again) from the start.
  const midRestart = persisted.status === 'Restarting' || persisted.status === 'Updating';
  const mem: InstanceMemory = { startedAt: ms(persisted.StartTime) ?? now, containers: {}, restartApplied: midRestart ? '' : (desired.restartToken ?? '') };
  const load = (role: ContainerRole, list: readonly ContainerSpec[], saved: readonly ContainerStatusData[] | undefined) => {
    for (const c of list) {
      const s = saved?.find((x) => x.Name === c.Name);
      const m = freshContainer(role, desired.spec.InitContainers.length > 0);
      if (s) {
        m.run = s.RestartCount;
        m.started = s.Started;
        m.current = fromData(s.CurrentState);
        if (s.PreviousState) m.previous = fromData(s.PreviousState);
        if (s.CurrentState.State === 'Running') m.phase = 'running';
        else if (s.CurrentState.State === 'Terminated') m.phase = 'ended';
        else if (s.CurrentState.Reason === 'CrashLoopBackOff' || (s.Started && IMAGE_WAITS.has(s.CurrentState.Reason))) {
          // Run RestartCount ended; the next one starts now (the back-off delay is not persisted).
          m.phase = 'backoff';
          m.restartAt = now;
        }
        // Otherwise a start of run RestartCount may have been issued: 'new' adopts it when the runtime
        // shows it, else starts it (a start of a run the runtime holds is a no-op).
      }
      mem.containers[containerKey(role, c.Name)] = m;
    }
  };
  load('init', desired.spec.InitContainers, persisted.InitContainerStatuses);
  load('app', desired.spec.Containers, persisted.ContainerStatuses);
  if (persisted.status === 'Succeeded' || persisted.status === 'Failed') {
    mem.final = {
      status: persisted.status,
      reason: persisted.StatusReason ?? '',
      message: persisted.StatusMessage ?? '',
      at: ms(persisted.status === 'Succeeded' ? persisted.SucceededTime : persisted.FailedTime) ?? now,
    };
    // A finished instance never restarts: its ended containers are done.
    for (const m of Object.values(mem.containers)) if (m.phase !== 'running') m.phase = 'done';
  }
  return mem;
}
