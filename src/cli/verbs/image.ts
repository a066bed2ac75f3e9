// `eci image pull|ls|rm|import|gc`: the host's image store, operated on directly (as `ctr images` does),
// not through the API. The store is the one the host agent uses, so a container on this host starts from what
// `eci image pull` fetched without a registry round trip, and `eci image rm` refuses what a container uses.
//
// Contracts:
// - Where the store is: `imageStoreDir` (one function, reused by the agent's wiring).
// - The agent may run at the same time: the store makes every write temp + rename and locks its names file,
//   so both may use one root.
// - Progress goes to stderr (a one-line bar on a terminal, a line per finished layer otherwise); stdout holds
//   only the result, so `--json` output parses.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  ImageImportError,
  ImageInUseError,
  ImageNotFoundError,
  ImagePullError,
  ImageStore,
  type LocalImage,
  type PullOptions,
  type PullProgress,
  type RegistryCredential,
} from '../../agent/images/image-store.ts';
import { InvalidImageReferenceError, parseImageReference } from '../../core/image-reference.ts';
import { extractGlobalFlags, parseVerbArgs } from '../args.ts';
import { DEFAULT_STATE_DIR } from '../config.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT_API, EXIT_OK, EXIT_USAGE } from '../errors.ts';
import { processIo, renderTable } from '../output.ts';
import { group, positionalArgs, type Verb } from './verb.ts';

/** The agent keeps its image store here, under its own state dir (`<eci dev/agent --state-dir>/agent`). */
export const IMAGE_STORE_SUBDIR = 'image-store';

/** The image store of the agent whose state dir (`<eci dev --state-dir>/agent`) is `agentStateDir`. */
export function agentImageStoreDir(agentStateDir: string): string {
  return join(agentStateDir, IMAGE_STORE_SUBDIR);
}

/**
 * The image store `eci image` works on: `imageStore` (--image-store) when given; else
 * `<state dir>/agent/image-store`, the store of the agent that `eci dev --state-dir D` or
 * `eci agent --state-dir D` runs (both keep the agent's state in D/agent). The state dir is found as for
 * dev.json: the named one (--state-dir, else ECI_STATE_DIR) only; otherwise ./.eci, then ~/.eci, the first
 * that holds an image store or a dev.json; if neither does, ./.eci (where `eci dev` would put it).
 * Relative paths are taken from `cwd`.
 */
export function imageStoreDir(opts: { imageStore?: string; stateDir?: string; cwd: string; home: string }): string {
  if (opts.imageStore) return resolve(opts.cwd, opts.imageStore);
  if (opts.stateDir) return agentImageStoreDir(join(resolve(opts.cwd, opts.stateDir), 'agent'));
  const candidates = [resolve(opts.cwd, DEFAULT_STATE_DIR), join(opts.home, '.eci')];
  const found = candidates.find((d) => existsSync(agentImageStoreDir(join(d, 'agent')))) ?? candidates.find((d) => existsSync(join(d, 'dev.json')));
  return agentImageStoreDir(join(found ?? candidates[0], 'agent'));
}

/**
 * The state dir this invocation names, if any. A dev.json found there (or in ./.eci or ~/.eci) names it
 * through the configuration; a named state dir without a dev.json (an `eci agent --state-dir` host) is not
 * in the configuration, so it is read from the process's own flags and environment as main() saw them.
 */
function stateDirOf(ctx: CliContext): string | undefined {
  if (ctx.config.file) return dirname(ctx.config.file);
  return extractGlobalFlags(process.argv.slice(2)).globals.stateDir ?? (process.env.ECI_STATE_DIR || undefined);
}

function storeDirOf(ctx: CliContext, imageStore: string | undefined): string {
  return imageStoreDir({ imageStore, stateDir: stateDirOf(ctx), cwd: process.cwd(), home: homedir() });
}

/** `create` false: undefined when there is no store there yet (ls, rm and gc do not make one). */
function openStore(dir: string, create: boolean): ImageStore | undefined {
  if (!create && !existsSync(join(dir, 'images'))) return undefined;
  return new ImageStore({ root: dir });
}

// ---------------------------------------------------------------- formatting

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 512 B, 1.5 KiB, 12.3 MiB … (binary units). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < UNITS.length - 1);
  return `${v.toFixed(1)} ${UNITS[i]}`;
}

const SIZE_FACTORS: Record<string, number> = {
  '': 1, b: 1,
  k: 2 ** 10, kib: 2 ** 10, kb: 1e3,
  m: 2 ** 20, mib: 2 ** 20, mb: 1e6,
  g: 2 ** 30, gib: 2 ** 30, gb: 1e9,
  t: 2 ** 40, tib: 2 ** 40, tb: 1e12,
};

/** `10GiB`, `512M`, `1.5g`, `500MB`, `4096` → bytes. K/M/G/T and KiB… are binary; kB/MB/GB/TB decimal. */
export function parseSize(name: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i.exec(text.trim());
  const factor = m ? SIZE_FACTORS[m[2].toLowerCase()] : undefined;
  if (!m || factor === undefined) throw new CliError(`--${name} expects a size such as 10GiB, 512MiB, 500MB or a number of bytes, not "${text}"`);
  return Math.floor(Number(m[1]) * factor);
}

const shortDigest = (d: string): string => d.replace(/^(sha256:[a-f0-9]{12})[a-f0-9]*$/, '$1');
const seconds = (iso: string): string => iso.replace(/\.\d+Z$/, 'Z');

/** `os/arch[/variant]`. */
function parsePlatform(text: string): NonNullable<PullOptions['platform']> {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/i.test(p)))
    throw new CliError(`--platform expects os/arch[/variant] such as linux/amd64 or linux/arm64/v8, not "${text}"`);
  const [os, architecture, variant] = parts;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** The holders of leases (containers using an image), by image digest. */
function leasesByDigest(store: ImageStore | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [holder, digest] of store?.leases() ?? []) out.set(digest, [...(out.get(digest) ?? []), holder]);
  return out;
}

function describeImage(img: LocalImage): string {
  const layers = `${img.layers.length} layer${img.layers.length === 1 ? '' : 's'}`;
  return [
    `Name:     ${img.names.length ? img.names.join(', ') : '<none>'}`,
    `Digest:   ${img.digest}`,
    `Size:     ${formatBytes(img.size)} (${formatBytes(img.unpackedSize)} unpacked, ${layers})`,
    `Platform: ${img.platform.os}/${img.platform.architecture}${img.platform.variant ? '/' + img.platform.variant : ''}`,
  ].join('\n');
}

/** An image failure as the CLI prints it: exit 1, or 2 for a name that is not an image reference (nothing was sent). */
function imageError(command: string, e: unknown): CliError {
  if (e instanceof ImagePullError) return new CliError(`eci image ${command}: ${e.code}: ${e.message}`, e.code === 'InvalidReference' ? EXIT_USAGE : EXIT_API);
  if (e instanceof InvalidImageReferenceError) return new CliError(`eci image ${command}: ${e.message}`, EXIT_USAGE);
  if (e instanceof ImageImportError || e instanceof ImageInUseError || e instanceof ImageNotFoundError) return new CliError(`eci image ${command}: ${e.message}`, EXIT_API);
  if (e instanceof CliError) return e;
  return new CliError(`eci image ${command}: ${e instanceof Error ? e.message : String(e)}`, EXIT_API);
}

// ---------------------------------------------------------------- progress

interface ProgressView {
  update(p: PullProgress): void;
  /** Clears what is left of the bar. */
  end(): void;
}

const BAR_WIDTH = 30;

/** A one-line bar on a terminal's stderr, redrawn in place, fitted to the terminal's width. */
function terminalProgress(name: string): ProgressView {
  const stream = process.stderr;
  let drawn = false;
  const layersDone = new Set<string>();
  return {
    update(p) {
      if (p.layer && p.downloadedBytes >= p.totalBytes) layersDone.add(p.layer);
      const cols = stream.columns || 80;
      let line = '';
      if (p.phase === 'resolving') line = `${name}: resolving`.slice(0, cols - 1);
      else if (p.phase !== 'done') {
        const frac = p.imageTotalBytes > 0 ? Math.min(1, p.imageDownloadedBytes / p.imageTotalBytes) : 0;
        // The total is fixed during a pull and the bytes are padded, so the bar keeps its length as they grow.
        const suffix = ` ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatBytes(p.imageDownloadedBytes).padStart(9)} / ${formatBytes(p.imageTotalBytes)}  layers done: ${layersDone.size}`;
        // The name gives way first, then the bar shrinks to its minimum.
        const width = Math.max(10, Math.min(BAR_WIDTH, cols - 1 - suffix.length - 3 - Math.min(name.length, 24)));
        const room = cols - 1 - suffix.length - 3 - width;
        const label = name.length <= room ? name : room > 1 ? '…' + name.slice(name.length - room + 1) : '';
        const filled = Math.floor(frac * width);
        const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (filled === width ? '=' : '>') : '') + ' '.repeat(width - filled);
        line = `${label}${label ? ' ' : ''}[${bar}]${suffix}`.slice(0, cols - 1);
      }
      stream.write(`\r\x1b[K${line}`);
      drawn = line !== '';
    },
    end() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/** Not a terminal: one line per layer as it completes (logs and CI output stay readable). */
function lineProgress(ctx: CliContext): ProgressView {
  const reported = new Set<string>();
  return {
    update(p) {
      if (!p.layer || p.phase === 'downloading' || p.downloadedBytes < p.totalBytes || reported.has(p.layer)) return;
      reported.add(p.layer);
      ctx.io.err(`${shortDigest(p.layer)}: ${formatBytes(p.totalBytes)} pulled`);
    },
    end() {},
  };
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    throw new CliError(`--password-stdin: cannot read standard input (${e instanceof Error ? e.message : String(e)})`);
  }
}

// ---------------------------------------------------------------- commands

const STORE_OPTION = { 'image-store': { type: 'string' } } as const;

const pull: Verb = {
  name: 'pull',
  summary: 'pull an image from a registry into the host image store',
  help: `pull NAME [options]                   pull an image from its registry into the host's image store

  --platform OS/ARCH[/VARIANT]  the platform to choose from a multi-platform image (default linux/amd64)
  --plain-http                  the registry speaks plain HTTP (as PlainHttpRegistry)
  --insecure                    HTTPS without verifying the certificate (as InsecureRegistry)
  --username U --password P     credentials for the image's registry
  --password-stdin              read the password from standard input instead
  --image-store DIR             the store to use (default <state dir>/agent/image-store)
  --json                        print the result as JSON

Progress goes to stderr; the digest and size are printed at the end. A registry's refusal (Unauthorized,
NotFound, …) prints its own error text and exits 1.`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('image pull', argv, {
      ...STORE_OPTION,
      platform: { type: 'string' },
      'plain-http': { type: 'boolean' },
      insecure: { type: 'boolean' },
      username: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const [name] = positionalArgs('image pull', positionals, ['NAME']);
    let registry: string;
    try {
      registry = parseImageReference(name).registry;
    } catch (e) {
      throw imageError('pull', e);
    }
    if (values.password !== undefined && values['password-stdin']) throw new CliError('eci image pull: give either --password or --password-stdin, not both');
    const password = values['password-stdin'] ? readStdin().replace(/\r?\n$/, '') : values.password;
    if (password !== undefined && values.username === undefined) throw new CliError('eci image pull: a password needs --username');
    if (values.username !== undefined && password === undefined) throw new CliError('eci image pull: --username needs --password or --password-stdin');
    const credentials: RegistryCredential[] = values.username !== undefined ? [{ Server: registry, UserName: values.username, Password: password! }] : [];
    const platform = values.platform === undefined ? undefined : parsePlatform(values.platform);

    const store = openStore(storeDirOf(ctx, values['image-store']), true)!;
    // The bar draws on the real terminal only; captured output (tests, pipes) gets lines.
    const view = ctx.io === processIo && process.stderr.isTTY ? terminalProgress(name) : lineProgress(ctx);
    const abort = new AbortController();
    const onSigint = () => abort.abort(new Error('interrupted'));
    process.once('SIGINT', onSigint);
    try {
      const r = await store.pull(name, {
        credentials,
        plainHttpRegistries: values['plain-http'] ? [registry] : [],
        insecureRegistries: values.insecure ? [registry] : [],
        ...(platform ? { platform } : {}),
        onProgress: (p) => view.update(p),
        signal: abort.signal,
      });
      view.end();
      if (values.json) {
        ctx.io.out(JSON.stringify(r, null, 2));
        return EXIT_OK;
      }
      const how = r.alreadyPresent ? 'already present, nothing downloaded' : `downloaded ${formatBytes(r.downloadedBytes)} in ${(r.durationMs / 1000).toFixed(1)} s`;
      ctx.io.out(`${describeImage(r.image)}\nPulled:   ${how}`);
      return EXIT_OK;
    } catch (e) {
      view.end();
      throw imageError('pull', e);
    } finally {
      process.removeListener('SIGINT', onSigint);
      store.close();
    }
  },
};

const ls: Verb = {
  name: 'ls',
  summary: 'list the images in the host image store',
  help: `ls [--json]                           list the host's images: NAME, DIGEST, SIZE, CREATED, IN USE

One row per name (an image without a name shows <none>). SIZE is what a pull transfers (compressed layers);
IN USE counts the containers holding the image (its leases), which rm and gc keep.`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('image ls', argv, { ...STORE_OPTION, json: { type: 'boolean' } });
    positionalArgs('image ls', positionals, []);
    const dir = storeDirOf(ctx, values['image-store']);
    const store = openStore(dir, false);
    const images = store?.list() ?? [];
    const leases = leasesByDigest(store);
    store?.close();
    if (values.json) {
      ctx.io.out(JSON.stringify(images.map((img) => ({ ...img, leases: leases.get(img.digest) ?? [] })), null, 2));
      return EXIT_OK;
    }
    if (images.length === 0) {
      ctx.io.out(store ? '(none)' : `(none: no image store at ${dir})`);
      return EXIT_OK;
    }
    const rows = images.flatMap((img) => (img.names.length ? img.names : ['<none>']).map((name) => ({ name, img })));
    ctx.io.out(
      renderTable(rows, [
        { header: 'NAME', get: (r) => r.name },
        { header: 'DIGEST', get: (r) => shortDigest(r.img.digest) },
        { header: 'SIZE', get: (r) => formatBytes(r.img.size) },
        { header: 'CREATED', get: (r) => seconds(r.img.createdAt) },
        { header: 'IN USE', get: (r) => leases.get(r.img.digest)?.length || '' },
      ]),
    );
    return EXIT_OK;
  },
};

const rm: Verb = {
  name: 'rm',
  summary: 'remove images from the host image store',
  help: `rm NAME… [--force]                    remove images (by name, digest, or 12+ hex of a digest)

Removing one of an image's several names only untags it; its last name takes the content with it. An image a
container uses (a lease, or a mounted overlay) is refused; --force removes the name anyway and the content
stays until the containers let go of it (then \`eci image gc\` frees it). Each name removed is printed; a
failure is printed for its name, the rest still go ahead, and the exit status is 1.`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('image rm', argv, { ...STORE_OPTION, force: { type: 'boolean' } });
    if (positionals.length === 0) throw new CliError('eci image rm: expected one or more image names or digests (usage: eci image rm NAME…)');
    const dir = storeDirOf(ctx, values['image-store']);
    const store = openStore(dir, false);
    if (!store) throw new CliError(`eci image rm: there is no image store at ${dir}`, EXIT_API);
    let failed = false;
    try {
      for (const name of positionals) {
        try {
          const digest = store.get(name)?.digest;
          await store.remove(name, { force: values.force === true });
          ctx.io.out(name);
          const holders = digest ? leasesByDigest(store).get(digest) : undefined;
          if (digest && holders?.length && store.get(digest))
            ctx.io.err(`eci image rm: ${shortDigest(digest)} stays in the store while ${holders.join(', ')} use${holders.length === 1 ? 's' : ''} it`);
        } catch (e) {
          failed = true;
          ctx.io.err(imageError('rm', e).message);
        }
      }
    } finally {
      store.close();
    }
    return failed ? EXIT_API : EXIT_OK;
  },
};

const importVerb: Verb = {
  name: 'import',
  summary: 'import an OCI image layout or a docker save tarball',
  help: `import PATH [--name NAME] [--json]    import an OCI image layout (directory or tar) or a \`docker save\` tarball

  --name NAME          the name to give the (first) image; otherwise a docker save tarball's RepoTags, or an
                       OCI layout's full image names (org.opencontainers.image.ref.name); else <none>
  --image-store DIR    the store to use (default <state dir>/agent/image-store)
  --json               print the imported images as JSON`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('image import', argv, { ...STORE_OPTION, name: { type: 'string' }, json: { type: 'boolean' } });
    const [path] = positionalArgs('image import', positionals, ['PATH']);
    if (values.name !== undefined) {
      try {
        parseImageReference(values.name);
      } catch (e) {
        throw imageError('import', e);
      }
    }
    const store = openStore(storeDirOf(ctx, values['image-store']), true)!;
    try {
      const images = await store.import(path, values.name !== undefined ? { name: values.name } : {});
      ctx.io.out(values.json ? JSON.stringify(images, null, 2) : images.map((img) => `Imported ${img.names[0] ?? shortDigest(img.digest)}\n${describeImage(img)}`).join('\n\n'));
      return EXIT_OK;
    } catch (e) {
      throw imageError('import', e);
    } finally {
      store.close();
    }
  },
};

const gc: Verb = {
  name: 'gc',
  summary: 'free space in the host image store',
  help: `gc [--budget SIZE] [--json]           free space: unused unnamed images, or unused images down to SIZE

  --budget SIZE   also remove images, unnamed first, then least recently used, until the store takes at most
                  SIZE (10GiB, 512MiB, 500MB, or bytes). Images a container uses are never removed.
  --image-store DIR, --json
Prints each image removed and the space freed.`,
  async run(ctx, argv) {
    const { values, positionals } = parseVerbArgs('image gc', argv, { ...STORE_OPTION, budget: { type: 'string' }, json: { type: 'boolean' } });
    positionalArgs('image gc', positionals, []);
    const budget = values.budget === undefined ? undefined : parseSize('budget', values.budget);
    const dir = storeDirOf(ctx, values['image-store']);
    const store = openStore(dir, false);
    let removed: { digest: string; names: readonly string[] }[] = [];
    let freedBytes = 0;
    let usedBytes = 0;
    if (store) {
      try {
        const before = new Map(store.list().map((img) => [img.digest, img.names]));
        if (budget !== undefined) {
          const r = await store.gc({ budgetBytes: budget });
          removed = r.removedImages.map((digest) => ({ digest, names: before.get(digest) ?? [] }));
          freedBytes = r.freedBytes;
        } else {
          // Dangling images only (no name, no lease), then the store's sweep of unreferenced blobs and layers.
          const used = store.usedBytes();
          const leases = leasesByDigest(store);
          for (const [digest, names] of before) {
            if (names.length || leases.has(digest)) continue;
            try {
              await store.remove(digest);
              removed.push({ digest, names });
            } catch (e) {
              if (!(e instanceof ImageInUseError || e instanceof ImageNotFoundError)) throw e;
            }
          }
          const r = await store.gc({ budgetBytes: Number.MAX_SAFE_INTEGER });
          freedBytes = Math.max(0, used - store.usedBytes()) + r.freedBytes;
        }
        usedBytes = store.usedBytes();
      } catch (e) {
        throw imageError('gc', e);
      } finally {
        store.close();
      }
    }
    if (values.json) {
      ctx.io.out(JSON.stringify({ removedImages: removed, freedBytes, usedBytes }, null, 2));
      return EXIT_OK;
    }
    const lines = removed.map((r) => `Removed ${r.digest}${r.names.length ? ` (${r.names.join(', ')})` : ''}`);
    lines.push(`Freed ${formatBytes(freedBytes)}; the store holds ${formatBytes(usedBytes)}${budget !== undefined ? ` (budget ${formatBytes(budget)})` : ''}`);
    ctx.io.out(lines.join('\n'));
    return EXIT_OK;
  },
};

export const imageVerb: Verb = group(
  'image',
  "the host's image store: pull, ls, rm, import, gc",
  `eci image <command>   the image store of the host agent on this machine, used directly (no API call)

The store is --image-store DIR, else <state dir>/agent/image-store, the state dir found as for dev.json
(--state-dir, ECI_STATE_DIR, ./.eci, ~/.eci). Writing to it needs the rights the agent has (root).

Options: pull [--platform OS/ARCH[/VARIANT]] [--plain-http] [--insecure] [--username U (--password P |
--password-stdin)]; rm [--force]; import [--name NAME]; gc [--budget SIZE] (10GiB, 512MiB, 500MB, bytes);
every command takes --image-store DIR, and pull, ls, import and gc --json.`,
  [pull, ls, rm, importVerb, gc],
);
