/** RFC 3339 UTC with second precision (`2018-08-02T15:00:00Z`), the reference's time format. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
