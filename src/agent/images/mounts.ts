// Which layer directories are under a mounted overlay right now. The kernel's mount table is the truth:
// a container whose state the agent lost still pins its layers while its rootfs is mounted.

import { readFileSync } from 'node:fs';

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * The lower directories of every overlay mount in `mountinfo` text (as written at mount time, which may be
 * symlinks such as the store's `l/<id>` links). Handles `lowerdir=a:b` and the kernel ≥ 6.8 `lowerdir+=`
 * / `datadir+=` forms.
 */
export function overlayLowerDirs(mountinfo: string): string[] {
  const dirs: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOpts = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'overlay') continue;
    for (const opt of superOpts.split(',')) {
      const eq = opt.indexOf('=');
      if (eq < 0) continue;
      const key = opt.slice(0, eq);
      const value = unescape(opt.slice(eq + 1));
      if (key === 'lowerdir') dirs.push(...value.split(/(?<!\\):/).map((d) => d.replace(/\\:/g, ':')).filter(Boolean));
      else if (key === 'lowerdir+' || key === 'datadir+') dirs.push(value);
    }
  }
  return dirs;
}

export function mountedLowerDirs(): string[] {
  return overlayLowerDirs(readFileSync('/proc/self/mountinfo', 'utf8'));
}
