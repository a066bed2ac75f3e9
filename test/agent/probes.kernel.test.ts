// Probe executors against real servers in a network namespace this test creates: busybox httpd for
// httpGet (200, 404, redirect, closed port, a server that never answers), a busybox nc listener for
// tcpSocket (open, closed). The pure argv renderers and the exec verdicts are checked without root.
// Every namespace carries this run's host id and is removed in `after`, with every process it started.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listNetns, run } from '../../src/agent/net/exec.ts';
import { instanceNetnsName, shortId } from '../../src/agent/net/names.ts';
import { httpGet, httpGetArgv, runHandler, runProbe, tcpSocket, tcpSocketArgv, type ProbeTarget } from '../../src/agent/runtime/probes.ts';
import type { ProbeSpec } from '../../src/core/model.ts';

const skip = process.getuid?.() === 0 ? false : 'kernel tests need root (network namespaces)';

describe('probe argv (pure)', () => {
  it('httpGet: curl inside the namespace, status code only, HTTPS without verification, headers', () => {
    assert.deepEqual(httpGetArgv({ Scheme: 'HTTP', Port: 8080, Path: '/healthz' }, 1000), [
      'curl', '-s', '-g', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '1', '--noproxy', '*', '-A', 'kube-probe/openeci', 'http://127.0.0.1:8080/healthz',
    ]);
    const https = httpGetArgv({ Scheme: 'HTTPS', Host: '10.0.0.5', Port: 443, Path: 'x', HttpHeaders: [{ Name: 'X-A', Value: 'b c' }] }, 2500);
    assert.deepEqual(https.slice(7, 9), ['--max-time', '2.5']);
    assert.deepEqual(https.slice(-4), ['-k', '-H', 'X-A: b c', 'https://10.0.0.5:443/x']);
  });

  it('tcpSocket: host and port are arguments, never script text', () => {
    assert.deepEqual(tcpSocketArgv('', 9000, 1000), ['timeout', '1', 'bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', '127.0.0.1', '9000']);
    assert.deepEqual(tcpSocketArgv('$(reboot)', 1, 1000).slice(-2), ['$(reboot)', '1']);
  });
});

describe('exec probes (through the runtime exec port)', () => {
  const target = (out: { exitCode: number; stdout?: string; stderr?: string; timedOut?: boolean }, seen: unknown[] = []): ProbeTarget => ({
    netns: 'unused',
    exec: async (argv, timeoutMs) => {
      seen.push([argv, timeoutMs]);
      return { stdout: '', stderr: '', timedOut: false, ...out };
    },
  });
  const spec = (extra: Partial<ProbeSpec> = {}): ProbeSpec => ({
    Exec: { Command: ['cat', '/tmp/healthy'] }, InitialDelaySeconds: 0, PeriodSeconds: 10, TimeoutSeconds: 3, SuccessThreshold: 1, FailureThreshold: 3, ...extra,
  });

  it('exit 0 succeeds; TimeoutSeconds bounds the exec', async () => {
    const seen: unknown[] = [];
    assert.deepEqual(await runProbe(spec(), target({ exitCode: 0 }, seen)), { ok: true, message: '' });
    assert.deepEqual(seen, [[['cat', '/tmp/healthy'], 3000]]);
  });

  it('a non-zero exit fails with the output, or the code when silent', async () => {
    assert.deepEqual(await runProbe(spec(), target({ exitCode: 1, stderr: 'cat: /tmp/healthy: No such file or directory\n' })), {
      ok: false,
      message: 'cat: /tmp/healthy: No such file or directory',
    });
    assert.deepEqual(await runProbe(spec(), target({ exitCode: 2 })), { ok: false, message: 'command ["cat","/tmp/healthy"] exited with code 2' });
  });

  it('a timeout fails', async () => {
    const r = await runProbe(spec({ TimeoutSeconds: 1 }), target({ exitCode: 137, timedOut: true }));
    assert.deepEqual(r, { ok: false, message: 'command ["cat","/tmp/healthy"] timed out after 1s' });
  });
});

describe('httpGet and tcpSocket probes in a network namespace', { skip, concurrency: false }, () => {
  const rnd = randomBytes(4).toString('hex');
  const hostId = `host-${(process.pid % 46656).toString(36)}${rnd}`.slice(0, 13);
  const netns = instanceNetnsName(hostId, `eci-probe${rnd}`);
  const children: ChildProcess[] = [];
  let www = '';
  const target = (): ProbeTarget => ({ netns, exec: () => Promise.reject(new Error('no exec in this test')) });

  /** Starts a server inside the namespace; tracked by PID for cleanup. */
  function serve(argv: string[]): ChildProcess {
    const child = spawn('nsenter', [`--net=/var/run/netns/${netns}`, '--', ...argv], { stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(child);
    return child;
  }

  async function waitListening(port: number): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if ((await tcpSocket(netns, '', port, 500)).ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nothing listens on ${port} in ${netns}`);
  }

  before(async () => {
    await run(['ip', 'netns', 'add', netns]);
    await run(['ip', 'link', 'set', 'lo', 'up'], { netns });
    www = mkdtempSync(join(tmpdir(), 'eci-probe-'));
    writeFileSync(join(www, 'healthz'), 'ok\n');
    mkdirSync(join(www, 'dir'));
    writeFileSync(join(www, 'dir', 'index.html'), 'dir\n');
    serve(['busybox', 'httpd', '-f', '-p', '127.0.0.1:8080', '-h', www]);
    // Accepts one connection and never answers (stdin stays open): a hung HTTP server.
    serve(['busybox', 'nc', '-l', '-p', '8081']);
    // A TCP listener that keeps accepting.
    serve(['busybox', 'nc', '-ll', '-p', '9000', '-e', '/bin/cat']);
    await waitListening(8080);
    await waitListening(9000);
  });

  after(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            process.kill(c.pid!, 'SIGKILL');
          }),
      ),
    );
    await run(['ip', 'netns', 'del', netns]).catch(() => undefined);
    if (www) rmSync(www, { recursive: true, force: true });
    // Leftovers: no namespace of this run's host id, no process this test started.
    assert.deepEqual((await listNetns()).filter((n) => n.includes(shortId(hostId))), []);
    for (const c of children) assert.throws(() => process.kill(c.pid!, 0), /ESRCH/);
  });

  it('httpGet: 200 succeeds', async () => {
    assert.deepEqual(await httpGet(netns, { Scheme: 'HTTP', Port: 8080, Path: '/healthz' }, 2000), { ok: true, message: '' });
  });

  it('httpGet: a redirect (3xx) succeeds and is not followed', async () => {
    // busybox httpd answers a directory without its trailing slash with a 301.
    const { stdout } = await run(httpGetArgv({ Scheme: 'HTTP', Port: 8080, Path: '/dir' }, 2000), { netns });
    assert.match(stdout, /^30\d$/);
    assert.equal((await httpGet(netns, { Scheme: 'HTTP', Port: 8080, Path: '/dir' }, 2000)).ok, true);
  });

  it('httpGet: 404 fails with the status code', async () => {
    assert.deepEqual(await httpGet(netns, { Scheme: 'HTTP', Port: 8080, Path: '/missing' }, 2000), {
      ok: false,
      message: 'HTTP probe failed with statuscode: 404',
    });
  });

  it('httpGet: a closed port fails at once', async () => {
    const t = Date.now();
    const r = await httpGet(netns, { Scheme: 'HTTP', Port: 8089, Path: '/' }, 2000);
    assert.deepEqual(r, { ok: false, message: 'Get "http://127.0.0.1:8089/": connect: connection refused' });
    assert.ok(Date.now() - t < 1500, 'refused, not timed out');
  });

  it('httpGet: a server that never answers fails after TimeoutSeconds', async () => {
    const t = Date.now();
    const spec: ProbeSpec = { HttpGet: { Path: '/', Port: 8081, Scheme: 'HTTP' }, InitialDelaySeconds: 0, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3 };
    const r = await runProbe(spec, target());
    const took = Date.now() - t;
    assert.equal(r.ok, false);
    assert.match(r.message, /context deadline exceeded/);
    assert.ok(took >= 900 && took < 3000, `took ${took} ms`);
  });

  it('tcpSocket: an open port succeeds at once, a closed one fails', async () => {
    const t = Date.now();
    assert.deepEqual(await runHandler({ TcpSocket: { Port: 9000 } }, target(), 1000), { ok: true, message: '' });
    assert.ok(Date.now() - t < 900, 'connect and close, not wait for the timeout');
    assert.deepEqual(await runHandler({ TcpSocket: { Port: 9001 } }, target(), 1000), { ok: false, message: 'dial tcp 127.0.0.1:9001: connect: connection refused' });
  });

  it('a hook handler with Host and headers goes to that host', async () => {
    const r = await runHandler(
      { HttpGet: { Host: '127.0.0.1', Path: '/healthz', Port: 8080, Scheme: 'HTTP', HttpHeaders: [{ Name: 'X-Probe', Value: '1' }] } },
      target(),
      2000,
    );
    assert.deepEqual(r, { ok: true, message: '' });
  });
});
