// Human output: the first list in a response prints as a table of its scalar fields; everything else
// prints as indented JSON. `--json` always prints the raw response.

function findList(v: unknown): Record<string, unknown>[] | undefined {
  if (Array.isArray(v)) return v.every((x) => x && typeof x === 'object') ? (v as Record<string, unknown>[]) : undefined;
  if (v && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      if (k === 'Tags') continue;
      const hit = findList(child);
      if (hit) return hit;
    }
  }
  return undefined;
}

export function formatTable(rows: Record<string, unknown>[], maxColumns = 8): string {
  const columns: string[] = [];
  for (const r of rows)
    for (const [k, v] of Object.entries(r))
      if ((typeof v !== 'object' || v === null) && !columns.includes(k) && columns.length < maxColumns) columns.push(k);
  const cells = rows.map((r) => columns.map((c) => (r[c] === undefined || r[c] === null ? '' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}

export function printResult(result: Record<string, unknown>, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const list = findList(result);
  if (list && list.length > 0) console.log(formatTable(list));
  else if (list) console.log('(none)');
  else {
    const { RequestId: _r, ...rest } = result;
    console.log(JSON.stringify(rest, null, 2));
  }
}
