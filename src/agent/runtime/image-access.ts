// Which accounts may use which local images without asking the registry: an image one tenant pulled with
// its credentials must not start for another tenant that merely names it (Kubernetes' "pre-pulled private
// image" problem, which it answers with AlwaysPullImages). An account gets an image once a pull of its own
// succeeded: with its own credentials, the registry said yes (a pull of an image already on the host costs
// a manifest request, no download). A matched image cache stands for such a pull (it is the account's own).
//
// Contracts:
// - Kept in one JSON file (`digest → accounts`), written temp + rename, so it survives agent restarts and
//   a crash never leaves half a file. Only this agent process writes it.
// - A digest no account holds (imported or pulled with `eci image` by the operator) is nobody's: every
//   account's first start of it asks the registry.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class ImageAccess {
  readonly #file: string;
  readonly #grants: Map<string, Set<string>>;

  constructor(file: string) {
    this.#file = file;
    this.#grants = new Map();
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string[]>;
      for (const [digest, accounts] of Object.entries(saved)) this.#grants.set(digest, new Set(accounts));
    } catch {
      // no file yet (or unreadable: start empty, which only costs registry round trips)
    }
  }

  allowed(digest: string, account: string): boolean {
    return this.#grants.get(digest)?.has(account) ?? false;
  }

  grant(digest: string, account: string): void {
    const set = this.#grants.get(digest) ?? new Set<string>();
    if (set.has(account)) return;
    set.add(account);
    this.#grants.set(digest, set);
    const out: Record<string, string[]> = {};
    for (const [d, a] of this.#grants) out[d] = [...a];
    mkdirSync(dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(out));
    renameSync(tmp, this.#file);
  }
}
