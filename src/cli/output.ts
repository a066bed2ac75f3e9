// Human output. Verbs print tables with fixed columns; a raw action's response prints its first list
// as a table (scalar fields, and lists of scalars joined with commas), any other response as
// `Key  value` lines. `--json` always prints the response itself, for scripts.

/** Where a command writes. The CLI passes the process streams; tests may capture. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
};

export interface Column<R> {
  readonly header: string;
  get(row: R): unknown;
}

/** A cell's text: scalars as they are, lists of scalars comma-joined, wrapper objects (`{VSwitchId: [...]}`) unwrapped. */
export function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.every((x) => x === null || typeof x !== 'object') ? v.map((x) => cellText(x)).join(',') : `[${v.length}]`;
  if (typeof v === 'object') {
    const values = Object.values(v);
    if (values.length === 1 && Array.isArray(values[0])) return cellText(values[0]);
    return '{…}';
  }
  return String(v);
}

export function renderTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = rows.map((r) => columns.map((c) => cellText(c.get(r)).replace(/[\r\n\t]+/g, ' ')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** The first list of objects in a response, searched depth-first (`Vpcs.Vpc`, `ContainerGroups`). Tags are never it. */
export function findList(v: unknown): Record<string, unknown>[] | undefined {
  if (Array.isArray(v)) return v.length > 0 && v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x)) ? (v as Record<string, unknown>[]) : undefined;
  if (v !== null && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      if (k === 'Tags' || k === 'Tag') continue;
      const hit = findList(child);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** Whether the response holds a list (possibly empty) where a table would go. */
function hasEmptyList(v: unknown): boolean {
  if (Array.isArray(v)) return v.length === 0;
  if (v !== null && typeof v === 'object') return Object.entries(v).some(([k, child]) => k !== 'Tags' && hasEmptyList(child));
  return false;
}

function isScalarish(v: unknown): boolean {
  return cellText(v) !== '{…}' && !(Array.isArray(v) && v.some((x) => x !== null && typeof x === 'object'));
}

/** Columns for an unknown list: the fields whose values fit a cell, in the response's own order (ids come first there). */
export function autoColumns(rows: readonly Record<string, unknown>[], max = 9): Column<Record<string, unknown>>[] {
  const names: string[] = [];
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (!names.includes(k) && v !== undefined && v !== null && isScalarish(v)) names.push(k);
  return names.slice(0, max).map((n) => ({ header: n, get: (r) => r[n] }));
}

/** Prints a raw action's response. */
export function printResponse(io: Io, result: Record<string, unknown>, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(result, null, 2));
    return;
  }
  const list = findList(result);
  if (list) {
    io.out(renderTable(list, autoColumns(list)));
    return;
  }
  if (hasEmptyList(result)) {
    io.out('(none)');
    return;
  }
  const { RequestId: requestId, ...rest } = result;
  const entries = Object.entries(rest);
  if (entries.length === 0) {
    io.out(`OK (RequestId ${String(requestId)})`);
    return;
  }
  const width = Math.max(...entries.map(([k]) => k.length));
  io.out(entries.map(([k, v]) => `${k.padEnd(width)}  ${isScalarish(v) ? cellText(v) : JSON.stringify(v)}`).join('\n'));
}
