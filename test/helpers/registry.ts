// A real OCI registry on loopback for image tests: Debian's docker-registry (distribution 2.8.2) run with a config
// generated here, in a temp dir of its own — never the system config, never port 5000, never as a service.
//
// auth 'basic' is htpasswd (bcrypt, the only hash distribution accepts). auth 'token' is the Docker token flow
// (distribution's `auth.token`): the registry answers 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`;
// the realm is a token server started here (node:http) that checks Basic credentials against `users` and issues an
// RS256 JWT whose header carries `x5c` = the self-signed certificate the registry trusts as its rootcertbundle.
// Distribution verifies: iss == issuer, aud == service, exp/nbf (±60 s leeway), the x5c chain up to the bundle,
// then the signature over `header.claims`; the `access` claim grants the actions per repository.
// tls: a self-signed certificate for IP 127.0.0.1 (openssl); `certDir` holds it as `ca.crt` in the layout
// containers/image (skopeo) reads with --cert-dir.
//
// Every process is tracked by PID and ended by PID. A test's after() calls destroy(); a test process that dies
// first still kills the registry (process 'exit' hook).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createSign, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type RegistryAuth = 'none' | 'basic' | 'token';

/** One request the token server answered (auth 'token' only), for "no retry storm" assertions. */
export interface TokenRequest {
  readonly user?: string;          // the Basic user name presented, if any
  readonly scopes: readonly string[];
  readonly status: number;         // 200 (token issued) or 401 (wrong credentials)
}

export interface TestRegistry {
  readonly host: string;            // '127.0.0.1:PORT' — what goes in image names and PlainHttpRegistry
  readonly url: string;             // 'http://127.0.0.1:PORT' or 'https://…'
  readonly tls: boolean;
  readonly caCertFile?: string;     // tls: the self-signed certificate (PEM)
  readonly certDir?: string;        // tls: a directory holding caCertFile as ca.crt (skopeo --cert-dir)
  readonly auth: RegistryAuth;
  readonly users: Readonly<Record<string, string>>; // auth: user → password
  readonly storageDir: string;
  readonly pid: number;             // the current registry process (changes across stop()/start())
  readonly logFile: string;
  readonly tokenUrl?: string;       // auth 'token': the realm
  readonly tokenRequests: readonly TokenRequest[];  // auth 'token': every request to the realm, in order
  /** Where distribution's filesystem driver keeps a blob's bytes (to corrupt it in a test). */
  blobPath(digest: string): string;
  stop(): Promise<void>;            // SIGTERM the registry (and token server), wait; keeps storage. Idempotent.
  start(): Promise<void>;           // starts again on the SAME port with the same storage (down-and-back tests)
  destroy(): Promise<void>;         // stop + remove all temp files
}

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  tls?: boolean;
  users?: Record<string, string>;   // default { tester: 'secret-pw' } when auth != none
}

const REGISTRY_BIN = '/usr/bin/docker-registry';
const TOKEN_ISSUER = 'openeci-test-token-issuer';
const TOKEN_SERVICE = 'openeci-test-registry';
const TOKEN_TTL_SECONDS = 300;
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/** A free loopback port: listen on 0, close, reuse (a small race with other processes is accepted in tests). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], opts: { input?: string } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/** A self-signed certificate + key (RSA 2048) via openssl; `ip` adds subjectAltName IP:<ip>. */
function selfSignedCert(dir: string, name: string, subject: string, ip?: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '7', '-subj', subject];
  if (ip) args.push('-addext', `subjectAltName=IP:${ip}`);
  run('openssl', args);
  return { cert, key };
}

function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Scopes as sent by clients: repeated `scope` params, each possibly space-separated (`type:name:actions`). */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

interface TokenServer {
  readonly url: string;
  readonly requests: TokenRequest[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The realm of token auth. Contract: wrong Basic credentials → 401 (no token); no credentials → a token with an
 * empty access list (the registry then answers 401 UNAUTHORIZED itself, as for an anonymous pull of a private repo);
 * right credentials → every requested action on every requested scope. GET (docker token spec) and POST (OAuth2
 * password grant, form body) are both served.
 */
function createTokenServer(port: number, users: Readonly<Record<string, string>>, signingKeyPem: string, certPem: string): TokenServer {
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const requests: TokenRequest[] = [];
  let server: Server | undefined;

  const issue = (user: string | undefined, service: string, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = user === undefined ? [] : scopes.flatMap((s) => {
      const parsed = parseScope(s);
      return parsed ? [parsed] : [];
    });
    const header = { typ: 'JWT', alg: 'RS256', x5c };
    const claims = {
      iss: TOKEN_ISSUER, sub: user ?? '', aud: service, exp: now + TOKEN_TTL_SECONDS, nbf: now - 1, iat: now,
      jti: randomBytes(12).toString('hex'), access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(signingKeyPem);
    return `${signingInput}.${b64url(signature)}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://token');
    let params = url.searchParams;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    }
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    const scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    let user: string | undefined;
    let password: string | undefined;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const decoded = Buffer.from(authz.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      user = colon < 0 ? decoded : decoded.slice(0, colon);
      password = colon < 0 ? '' : decoded.slice(colon + 1);
    } else if (params.get('grant_type') === 'password') {
      user = params.get('username') ?? '';
      password = params.get('password') ?? '';
    }
    if (user !== undefined && (!Object.hasOwn(users, user) || users[user] !== password)) {
      requests.push({ user, scopes, status: 401 });
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="openeci-test-token"' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: 'invalid username or password' }] }));
      return;
    }
    requests.push({ user, scopes, status: 200 });
    const token = issue(user, params.get('service') ?? TOKEN_SERVICE, scopes);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: TOKEN_TTL_SECONDS, issued_at: new Date().toISOString() }));
  };

  return {
    url: `http://127.0.0.1:${port}/token`,
    requests,
    async start() {
      if (server) return;
      const s = createHttpServer((req, res) => {
        handle(req, res).catch((e: unknown) => {
          res.writeHead(500).end(e instanceof Error ? e.message : String(e));
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      server = s;
    },
    async stop() {
      const s = server;
      if (!s) return;
      server = undefined;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

/** GET /v2/ status, or undefined when nothing answers yet. */
function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const u = new URL('/v2/', url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'GET', rejectUnauthorized: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function registryConfig(o: {
  port: number; storageDir: string; auth: RegistryAuth; htpasswdFile: string; tls?: { cert: string; key: string };
  token?: { realm: string; bundle: string };
}): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  formatter: text',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(o.storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${o.port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (o.tls) lines.push('  tls:', `    certificate: ${JSON.stringify(o.tls.cert)}`, `    key: ${JSON.stringify(o.tls.key)}`);
  lines.push('health:', '  storagedriver:', '    enabled: false');
  if (o.auth === 'basic') {
    lines.push('auth:', '  htpasswd:', '    realm: openeci-test-registry', `    path: ${JSON.stringify(o.htpasswdFile)}`);
  } else if (o.auth === 'token' && o.token) {
    lines.push(
      'auth:', '  token:', `    realm: ${JSON.stringify(o.token.realm)}`, `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`, `    rootcertbundle: ${JSON.stringify(o.token.bundle)}`,
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * Starts a registry and waits until GET /v2/ answers 200 (auth none) or 401. Throws with the registry's log tail
 * when it exits or does not answer within 15 s (temp files are removed then).
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BIN)) throw new Error(`${REGISTRY_BIN} is not installed: run scripts/setup.sh`);
  const auth = opts.auth ?? 'none';
  const tls = opts.tls ?? false;
  const users: Readonly<Record<string, string>> = Object.freeze(auth === 'none' ? { ...(opts.users ?? {}) } : { ...(opts.users ?? { tester: 'secret-pw' }) });
  const dir = mkdtempSync(join(tmpdir(), 'eci-registry-'));
  const storageDir = join(dir, 'storage');
  const logFile = join(dir, 'registry.log');
  const configFile = join(dir, 'config.yml');
  const htpasswdFile = join(dir, 'htpasswd');
  mkdirSync(storageDir);

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let tokenServer: TokenServer | undefined;
  let destroyed = false;

  // Synchronous last resort: the test process is exiting without after() having run.
  const onExit = () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  try {
    let tlsFiles: { cert: string; key: string } | undefined;
    let certDir: string | undefined;
    if (tls) {
      tlsFiles = selfSignedCert(dir, 'registry', '/CN=127.0.0.1', '127.0.0.1');
      certDir = join(dir, 'certs');
      mkdirSync(certDir);
      writeFileSync(join(certDir, 'ca.crt'), readFileSync(tlsFiles.cert));
    }
    if (auth === 'basic') {
      const entries = Object.entries(users).map(([u, pw]) => run('htpasswd', ['-Bbn', u, pw]).trim());
      writeFileSync(htpasswdFile, entries.join('\n') + '\n');
    }
    let token: { realm: string; bundle: string } | undefined;
    if (auth === 'token') {
      const signer = selfSignedCert(dir, 'token-signer', `/CN=${TOKEN_ISSUER}`);
      tokenServer = createTokenServer(await freeLoopbackPort(), users, readFileSync(signer.key, 'utf8'), readFileSync(signer.cert, 'utf8'));
      token = { realm: tokenServer.url, bundle: signer.cert };
    }
    const port = await freeLoopbackPort();
    writeFileSync(configFile, registryConfig({ port, storageDir, auth, htpasswdFile, tls: tlsFiles, token }));
    const host = `127.0.0.1:${port}`;
    const url = `${tls ? 'https' : 'http'}://${host}`;

    const stop = async () => {
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
        const done = exited;
        process.kill(c.pid, 'SIGTERM');
        const timedOut = await Promise.race([done.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)]);
        if (timedOut && c.exitCode === null && c.signalCode === null) {
          process.kill(c.pid, 'SIGKILL');
          await done;
        }
      }
      child = undefined;
      await tokenServer?.stop();
    };

    const start = async () => {
      if (destroyed) throw new Error('registry was destroyed');
      if (child) return;
      await tokenServer?.start();
      const log = openSync(logFile, 'a');
      const c = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', log, log], cwd: dir });
      closeSync(log);
      child = c;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      let spawnError: Error | undefined;
      c.once('error', (e) => { spawnError = e; });
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        if (spawnError || c.exitCode !== null || c.signalCode !== null) {
          child = undefined;
          await tokenServer?.stop();
          throw new Error(`docker-registry exited before answering (${spawnError?.message ?? `code ${c.exitCode} signal ${c.signalCode}`}); log:\n${logTail(logFile)}`);
        }
        const status = await probe(url);
        if (status === 200 || status === 401) return;
        if (Date.now() > deadline) {
          await stop();
          throw new Error(`docker-registry did not answer GET ${url}/v2/ within ${READY_TIMEOUT_MS} ms (last status ${status}); log:\n${logTail(logFile)}`);
        }
        await sleep(50);
      }
    };

    await start();

    return {
      host, url, tls, auth, users, storageDir, logFile,
      caCertFile: tlsFiles?.cert,
      certDir,
      tokenUrl: tokenServer?.url,
      tokenRequests: tokenServer?.requests ?? [],
      get pid() {
        return child?.pid ?? -1;
      },
      blobPath(digest: string) {
        const [algo, hex] = digest.split(':');
        if (algo !== 'sha256' || !/^[0-9a-f]{64}$/.test(hex ?? '')) throw new Error(`not a sha256 digest: ${digest}`);
        return join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
      },
      stop,
      start,
      async destroy() {
        if (destroyed) return;
        await stop();
        destroyed = true;
        process.off('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    if (child?.pid !== undefined && child.exitCode === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    await tokenServer?.stop();
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
