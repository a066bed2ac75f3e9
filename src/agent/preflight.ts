// What a host must have before the agent can run instances on it, checked once at start-up so that a
// missing piece is one clear message instead of a failure deep inside the first reconcile pass.

import { readFileSync } from 'node:fs';
import { run } from './net/exec.ts';

export interface PreflightResult {
  /** True when every requirement is met. */
  readonly ok: boolean;
  /** One sentence per missing requirement, saying what to install or change. */
  readonly missing: readonly string[];
}

/** The tools the agent runs, with the Debian package that provides each (scripts/setup.sh installs them). */
const TOOLS: readonly { argv: string[]; what: string }[] = [
  { argv: ['runc', '--version'], what: 'runc (Debian package runc)' },
  { argv: ['nft', '--version'], what: 'nft (Debian package nftables)' },
  { argv: ['tc', '-V'], what: 'tc (Debian package iproute2)' },
  { argv: ['ip', '-V'], what: 'ip (Debian package iproute2)' },
  { argv: ['nsenter', '--version'], what: 'nsenter (Debian package util-linux)' },
  { argv: ['busybox', 'true'], what: 'busybox (Debian package busybox-static; the built-in busybox image is made from it)' },
];

export interface PreflightDeps {
  readonly uid: number;
  /** Runs argv; rejects when the tool is missing or fails. */
  readonly probe: (argv: readonly string[]) => Promise<unknown>;
  readonly filesystems: () => string;
}

const defaultDeps = (): PreflightDeps => ({
  uid: process.getuid?.() ?? -1,
  probe: (argv) => run(argv, { timeoutMs: 5000 }),
  filesystems: () => readFileSync('/proc/filesystems', 'utf8'),
});

/** Checks root, the kernel tools and overlayfs. Never changes anything. */
export async function preflight(deps: PreflightDeps = defaultDeps()): Promise<PreflightResult> {
  const missing: string[] = [];
  if (deps.uid !== 0) missing.push('root: the agent creates network namespaces, mounts and runc containers, which needs uid 0');
  const results = await Promise.all(TOOLS.map((t) => deps.probe(t.argv).then(() => true, () => false)));
  TOOLS.forEach((t, i) => {
    if (!results[i]) missing.push(`${t.what} is not installed or does not run (run scripts/setup.sh)`);
  });
  let fs = '';
  try {
    fs = deps.filesystems();
  } catch {
    fs = '';
  }
  if (!/\boverlay\b/.test(fs)) missing.push('overlayfs: the kernel does not list "overlay" in /proc/filesystems (container root filesystems are overlay mounts)');
  return { ok: missing.length === 0, missing };
}

/** The preflight result as one message for a terminal. */
export function describePreflight(r: PreflightResult): string {
  return r.ok ? 'host check: everything the agent needs is present' : `host check: this host cannot run instances:\n${r.missing.map((m) => `  - ${m}`).join('\n')}`;
}
