// Probe and lifecycle-hook executors: exec, httpGet, tcpSocket, with Kubernetes' verdicts.
//
// - exec runs the command in the container through the runtime's exec; exit 0 is success.
// - httpGet and tcpSocket connect from INSIDE the instance's network namespace (as the kubelet reaches a
//   pod on its own IP), so they see exactly what the instance listens on, whatever the security groups
//   say, and need no route from the host. They run host tools under `nsenter --net=/var/run/netns/<ns>`
//   (never `ip netns exec`, which remounts /sys).
//   - httpGet: `curl` to 127.0.0.1 (or the hook's Host); success is a status 200–399, redirects are not
//     followed (kubelet); HTTPS skips certificate checks (-k), as the kubelet does.
//   - tcpSocket: bash's /dev/tcp opens the connection and closes it at once, under `timeout`. Measured
//     reasons for not using the obvious tools: Debian's busybox `nc` has no `-z` and refuses `-e` in client
//     mode, and `curl telnet://` stays connected until its --max-time, so every successful probe would last
//     the whole timeout.
// - Every executor resolves (never rejects) within about its timeout, with a message shaped like the
//   kubelet's, which the lifecycle puts in `Unhealthy` events.

import type { LifecycleHandlerSpec, NameValue, ProbeSpec } from '../../core/model.ts';
import { ExecError, run } from '../net/exec.ts';

export interface ProbeOutcome {
  readonly ok: boolean;
  /** Why it failed, in the kubelet's words ('' on success). */
  readonly message: string;
}

/** The instance a probe or hook runs against: its network namespace and the container's exec. */
export interface ProbeTarget {
  /** The instance's network namespace: /var/run/netns/<netns>. */
  readonly netns: string;
  /** Runs argv in the container, killed after timeoutMs (ContainerRuntime.exec bound to one container). */
  exec(argv: readonly string[], timeoutMs: number): Promise<{ readonly exitCode: number; readonly stdout: string; readonly stderr: string; readonly timedOut: boolean }>;
}

/** A probe's or a hook's handler: exactly one of Exec, HttpGet, TcpSocket. */
export type ProbeHandler = Pick<ProbeSpec, 'Exec' | 'HttpGet' | 'TcpSocket'> | LifecycleHandlerSpec;

export interface HttpGetTarget {
  readonly Scheme: 'HTTP' | 'HTTPS';
  /** '' or absent: the instance itself (127.0.0.1 inside its namespace). */
  readonly Host?: string;
  readonly Port: number;
  readonly Path: string;
  readonly HttpHeaders?: readonly NameValue[];
}

const seconds = (ms: number): string => String(Math.max(0.001, ms / 1000));

export function httpGetUrl(get: HttpGetTarget): string {
  const path = get.Path.startsWith('/') ? get.Path : `/${get.Path}`;
  return `${get.Scheme === 'HTTPS' ? 'https' : 'http'}://${get.Host || '127.0.0.1'}:${get.Port}${path}`;
}

/** The curl argv of an httpGet (run inside the namespace); prints only the status code. */
export function httpGetArgv(get: HttpGetTarget, timeoutMs: number): string[] {
  const argv = ['curl', '-s', '-g', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', seconds(timeoutMs), '--noproxy', '*', '-A', 'kube-probe/openeci'];
  if (get.Scheme === 'HTTPS') argv.push('-k');
  for (const h of get.HttpHeaders ?? []) argv.push('-H', `${h.Name}: ${h.Value}`);
  argv.push(httpGetUrl(get));
  return argv;
}

/** The argv of a tcpSocket check: connect, then close at once. Host and port are arguments, not script text. */
export function tcpSocketArgv(host: string, port: number, timeoutMs: number): string[] {
  return ['timeout', seconds(timeoutMs), 'bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', host || '127.0.0.1', String(port)];
}

// Grace for the process itself beyond the tool's own timeout (spawn, nsenter); then it is killed.
const SPAWN_GRACE_MS = 2_000;

export async function httpGet(netns: string, get: HttpGetTarget, timeoutMs: number): Promise<ProbeOutcome> {
  const url = httpGetUrl(get);
  try {
    const { stdout } = await run(httpGetArgv(get, timeoutMs), { netns, timeoutMs: timeoutMs + SPAWN_GRACE_MS });
    const code = Number(stdout.trim());
    if (code >= 200 && code < 400) return { ok: true, message: '' };
    return { ok: false, message: `HTTP probe failed with statuscode: ${code}` };
  } catch (e) {
    if (!(e instanceof ExecError)) throw e;
    // curl: 7 could not connect, 28 timed out (null: killed by our own guard), 35/60 TLS.
    if (e.code === 7) return { ok: false, message: `Get "${url}": connect: connection refused` };
    if (e.code === 28 || e.code === null) return { ok: false, message: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` };
    return { ok: false, message: `Get "${url}": curl exited ${e.code}: ${e.stderr.trim().slice(0, 200)}` };
  }
}

export async function tcpSocket(netns: string, host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const address = `${host || '127.0.0.1'}:${port}`;
  try {
    await run(tcpSocketArgv(host, port, timeoutMs), { netns, timeoutMs: timeoutMs + SPAWN_GRACE_MS });
    return { ok: true, message: '' };
  } catch (e) {
    if (!(e instanceof ExecError)) throw e;
    // timeout(1) answers 124 when it had to stop the connect.
    if (e.code === 124 || e.code === null) return { ok: false, message: `dial tcp ${address}: i/o timeout` };
    const refused = /refused/i.test(e.stderr);
    return { ok: false, message: `dial tcp ${address}: connect: ${refused ? 'connection refused' : e.stderr.trim().split('\n').at(-1)?.replace(/^bash: (line \d+: )?/, '') ?? 'failed'}` };
  }
}

export async function execProbe(target: ProbeTarget, command: readonly string[], timeoutMs: number): Promise<ProbeOutcome> {
  const out = await target.exec(command, timeoutMs);
  if (out.timedOut) return { ok: false, message: `command ${JSON.stringify(command)} timed out after ${seconds(timeoutMs)}s` };
  if (out.exitCode === 0) return { ok: true, message: '' };
  const output = `${out.stdout}${out.stderr}`.trim().slice(0, 1024);
  return { ok: false, message: output ? output : `command ${JSON.stringify(command)} exited with code ${out.exitCode}` };
}

/** Runs a probe's or hook's handler against the instance, bounded by timeoutMs. */
export async function runHandler(handler: ProbeHandler, target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
  if (handler.Exec) return execProbe(target, handler.Exec.Command, timeoutMs);
  if (handler.HttpGet) return httpGet(target.netns, handler.HttpGet, timeoutMs);
  if (handler.TcpSocket) {
    const host = 'Host' in handler.TcpSocket ? handler.TcpSocket.Host : '';
    return tcpSocket(target.netns, host, handler.TcpSocket.Port, timeoutMs);
  }
  return { ok: false, message: 'the handler has no Exec, HttpGet or TcpSocket' };
}

/** A probe of the lifecycle's `probe` action: TimeoutSeconds bounds it. */
export const runProbe = (spec: ProbeSpec, target: ProbeTarget): Promise<ProbeOutcome> => runHandler(spec, target, spec.TimeoutSeconds * 1000);
