// A tiny TCP/UDP echo tool run inside network namespaces by kernel tests (node, so no extra packages).
//   serve <name> <proto:port,…>   answers every TCP connection / UDP datagram with
//                                 `<name> <local port> <peer address>` and prints `ready` once listening;
//   probe <json [{proto,host,port}]> [timeoutMs]
//                                 prints a JSON array: the answer text, or `timeout` / `error:<code>`.
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [mode, a1, a2] = process.argv.slice(2);

async function serve(name: string, spec: string): Promise<void> {
  const listening: Promise<void>[] = [];
  for (const item of spec.split(',').filter(Boolean)) {
    const [proto, portText] = item.split(':');
    const port = Number(portText);
    if (proto === 'tcp') {
      const srv = createServer((s) => {
        s.on('error', () => undefined);
        s.end(`${name} ${port} ${s.remoteAddress?.replace(/^::ffff:/, '')}\n`);
      });
      listening.push(new Promise((r) => srv.listen(port, '0.0.0.0', () => r())));
    } else {
      const sock = createSocket('udp4');
      sock.on('message', (_m, rinfo) => sock.send(`${name} ${port} ${rinfo.address}\n`, rinfo.port, rinfo.address));
      listening.push(new Promise((r) => sock.bind(port, '0.0.0.0', () => r())));
    }
  }
  await Promise.all(listening);
  process.stdout.write('ready\n');
}

function probeOne(t: { proto: string; host: string; port: number }, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      finish('timeout');
      cleanup();
    }, timeoutMs);
    let cleanup = () => undefined as void;
    if (t.proto === 'tcp') {
      const s = connect({ host: t.host, port: t.port });
      let data = '';
      s.setEncoding('utf8').on('data', (c: string) => (data += c));
      s.on('end', () => finish(data.trim()));
      s.on('error', (e: NodeJS.ErrnoException) => finish(`error:${e.code}`));
      cleanup = () => void s.destroy();
    } else {
      const sock = createSocket('udp4');
      sock.on('message', (m) => {
        finish(m.toString().trim());
        sock.close();
      });
      sock.on('error', (e: NodeJS.ErrnoException) => finish(`error:${e.code}`));
      sock.send('ping', t.port, t.host);
      cleanup = () => void sock.close();
    }
  });
}

if (mode === 'serve') await serve(a1, a2);
else if (mode === 'probe') {
  const targets = JSON.parse(a1) as { proto: string; host: string; port: number }[];
  const res = await Promise.all(targets.map((t) => probeOne(t, Number(a2 ?? 700))));
  process.stdout.write(JSON.stringify(res) + '\n');
  process.exit(0);
} else {
  process.stderr.write('usage: echo.ts serve <name> <proto:port,…> | probe <json> [timeoutMs]\n');
  process.exit(2);
}
