// Executes planned steps (plan.ts) through exec.ts.
//
// Contracts:
// - Steps run in order. A step whose op fails runs its `fallback` op instead, if it has one; only when
//   that fails too is the step failed. Each creating step registers its undo; when a step fails, its own undo (a
//   batch may have half-succeeded; undos are tolerant deletes) and then the undos of the steps already
//   run in the same unit run in reverse (errors during undo are collected, not thrown), then a
//   NetApplyError naming the unit and the step is thrown. Steps of earlier units stay applied:
//   the next resync plans from what is there.
// - Every op is idempotent in effect (plan.ts emits `replace` and tolerant deletes; adding an existing
//   netns or deleting a missing one succeeds), so re-running after a partial failure is safe.
// - Not safe to run concurrently with another apply on the same host: the agent's reconcile loop is
//   the only caller.

import { ExecError, ipBatch, ipBatchForce, nftApply, shell, type SessionOption } from './exec.ts';
import { isInstanceNetns } from './names.ts';
import type { NetOp, NetStep } from './plan.ts';

export class NetApplyError extends Error {
  readonly unit: string;
  readonly step: string;
  readonly undoErrors: readonly unknown[];
  constructor(unit: string, step: string, cause: unknown, undoErrors: readonly unknown[]) {
    super(`network unit ${unit}: "${step}" failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'NetApplyError';
    this.unit = unit;
    this.step = step;
    this.undoErrors = undoErrors;
  }
}

/** The kernel operations apply needs; tests may substitute it to inject failures. */
export type OpRunner = (op: NetOp) => Promise<void>;

/**
 * Long-lived tool sessions (exec.ts) serve the namespaces that change again and again: the agent's
 * own (netns add/del), the host netns and the VPC routers. An instance netns is configured once, when
 * it is created, so a session there would only linger.
 */
const sessionFor = (netns: string | null): { session: boolean } => ({ session: netns === null || !isInstanceNetns(netns) });

export const runOp: OpRunner = async (op) => {
  switch (op.type) {
    case 'netnsAdd':
      try {
        await ipBatch(null, [`netns add ${op.name}`], sessionFor(null));
      } catch (e) {
        if (!(e instanceof ExecError && /File exists/.test(e.stderr))) throw e;
      }
      return;
    case 'netnsDel':
      try {
        await ipBatch(null, [`netns del ${op.name}`], sessionFor(null));
      } catch (e) {
        if (!(e instanceof ExecError && /No such file/.test(e.stderr))) throw e;
      }
      return;
    case 'ip':
      if (!op.bestEffort) return ipBatch(op.netns, op.lines, sessionFor(op.netns));
      try {
        await ipBatchForce(op.netns, op.lines, sessionFor(op.netns));
      } catch (e) {
        if (!(e instanceof ExecError)) throw e;
      }
      return;
    case 'nft':
      return nftApply(op.netns, op.script, sessionFor(op.netns));
    case 'sysctl':
      return writeSysctls(op.netns, op.values, sessionFor(op.netns));
  }
};

/**
 * Writes `net.…` sysctls of a namespace through /proc/sys (one `sh` in the namespace; /proc/sys/net
 * shows the namespace of the writer, so entering the network namespace is enough). No procps needed.
 */
export async function writeSysctls(netns: string | null, values: Readonly<Record<string, string>>, opts: SessionOption = {}): Promise<void> {
  const entries = Object.entries(values);
  for (const [k, v] of entries) if (!/^net(\.[A-Za-z0-9_-]+)+$/.test(k) || !/^[0-9]+$/.test(v)) throw new Error(`refusing sysctl ${k}=${v}`);
  const script = entries.map(([k, v]) => `echo ${v} > /proc/sys/${k.replaceAll('.', '/')}`).join(' && ');
  await shell(netns, script, opts);
}

/** Runs the steps; see the contracts above. Returns the number of steps run. */
export async function applyNetwork(steps: readonly NetStep[], runner: OpRunner = runOp): Promise<number> {
  let unit = '';
  let undos: NetOp[] = [];
  for (const step of steps) {
    if (step.unit !== unit) {
      unit = step.unit;
      undos = [];
    }
    try {
      await runner(step.op).catch((e: unknown) => {
        if (!step.fallback) throw e;
        return runner(step.fallback);
      });
    } catch (e) {
      const undoErrors: unknown[] = [];
      if (step.undo) undos.push(step.undo);
      for (const u of undos.reverse()) {
        try {
          await runner(u);
        } catch (ue) {
          undoErrors.push(ue);
        }
      }
      throw new NetApplyError(step.unit, step.what, e, undoErrors);
    }
    if (step.undo) undos.push(step.undo);
  }
  return steps.length;
}
