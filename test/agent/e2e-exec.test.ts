// Interactive exec end to end: ExecContainerCommand without Sync, through the official SDK, answers a
// WebSocketUri; a real WebSocket client (ws) then talks to the process in the container over Kubernetes'
// channel protocol — stdin in, stdout and stderr apart, the exit code last — with and without a
// terminal. Root only (namespaces, mounts, runc).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { $Eci, EciClient } from '../helpers/sdk.ts';
import { until } from '../helpers/wait.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { describeGroup } from './helpers/groups.ts';

const REGION = 'cn-hangzhou';
const isRoot = process.getuid?.() === 0;

interface Session {
  stdout: string;
  stderr: string;
  status: { ExitCode: number } | undefined;
  closeCode: number;
}

/** Connects, sends `input` on stdin (channel 0), and collects the channels until the agent closes. */
function talk(uri: string, input: string): Promise<Session> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri);
    const s: Session = { stdout: '', stderr: '', status: undefined, closeCode: 0 };
    ws.on('open', () => {
      if (input) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(input)]));
    });
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      const text = data.subarray(1).toString('utf8');
      if (channel === 1) s.stdout += text;
      else if (channel === 2) s.stderr += text;
      else if (channel === 3) s.status = JSON.parse(text) as { ExitCode: number };
    });
    ws.on('close', (code) => {
      s.closeCode = code;
      resolve(s);
    });
    ws.on('error', reject);
  });
}

describe('interactive exec end to end', { skip: isRoot ? false : 'needs root (network namespaces, mounts, runc)' }, () => {
  let cluster: TestCluster;
  let eci: EciClient;
  let id = '';

  before(async () => {
    cluster = await startCluster();
    eci = new EciClient(cluster.server.sdkConfig(cluster.server.key('exec')));
    const r = await eci.createContainerGroup(
      new $Eci.CreateContainerGroupRequest({
        regionId: REGION,
        containerGroupName: 'shell',
        cpu: 0.25,
        memory: 0.5,
        terminationGracePeriodSeconds: 0,
        container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'app', image: 'busybox', command: ['sleep', '3600'] })],
      }),
    );
    id = r.body!.containerGroupId!;
    await until('Running', async () => ((await describeGroup(eci, id))?.status === 'Running' ? true : undefined));
  });
  after(async () => {
    if (process.env.ECI_TEST_DEBUG) console.error(cluster?.agent.output());
    await cluster?.destroy();
  });

  const exec = async (command: string[], opts: { tty: boolean; stdin: boolean }) => {
    const r = await eci.execContainerCommand(
      new $Eci.ExecContainerCommandRequest({ regionId: REGION, containerGroupId: id, containerName: 'app', command: JSON.stringify(command), TTY: opts.tty, stdin: opts.stdin, sync: false }),
    );
    return r.body!;
  };

  it('streams stdin to the process and its stdout, stderr and exit code back, each on its channel', async () => {
    const r = await exec(['sh'], { tty: false, stdin: true });
    assert.match(r.webSocketUri ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/v1\/exec-ws\/[0-9a-f]{48}$/);
    const s = await talk(r.webSocketUri!, 'echo hello from stdin; echo oops >&2; cd /etc && pwd; exit 3\n');
    assert.equal(s.stdout, 'hello from stdin\n/etc\n');
    assert.equal(s.stderr, 'oops\n');
    assert.deepEqual(s.status, { ExitCode: 3 });
    assert.equal(s.closeCode, 1000);
    // A session URI is spent once used.
    await assert.rejects(talk(r.webSocketUri!, ''), /404/);
  });

  it('gives the process a terminal with TTY', async () => {
    const r = await exec(['sh', '-c', 'tty; [ -t 0 ] && echo stdin-is-a-terminal; exit 5'], { tty: true, stdin: true });
    assert.equal(r.httpUrl, '', 'no one-shot HttpUrl for a terminal session');
    const s = await talk(r.webSocketUri!, '');
    assert.match(s.stdout, /^\/dev\/pts\/\d+\r\nstdin-is-a-terminal\r\n$/);
    assert.deepEqual(s.status, { ExitCode: 5 });
  });

  it('closes stdin at once without Stdin, so a reader ends', async () => {
    const r = await exec(['sh', '-c', 'cat; echo after-eof'], { tty: false, stdin: false });
    const s = await talk(r.webSocketUri!, 'ignored\n');
    assert.equal(s.stdout, 'after-eof\n');
    assert.deepEqual(s.status, { ExitCode: 0 });
  });
});
