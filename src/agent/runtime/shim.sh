#!/bin/bash
# The per-container shim: runs one container run in the foreground under `runc run`, stamps and rotates its
# output, and records its exit. See runc.ts for why a shim exists at all.
#
# usage: shim.sh <runc-root> <bundle> <container-id> <container-dir> <log-file> <max-log-bytes> <rotated-files-kept> <memory-cgroup-dir>
#
# Files written in <container-dir>:
#   pid    by `runc run --pid-file` once the container process is running (host PID)
#   exit   `<exit code> <finished RFC 3339 nano> <OOM kills>`, written (atomically, by rename) after runc run
#          returned, the log is flushed and the container deleted; the code is runc's: the process's code, or
#          128+N when killed by signal N. `runc run --keep` leaves the stopped container (and its cgroup) so
#          the OOM counter can be read before the shim deletes it (plain delete: the process is gone).
# Log lines: `<RFC 3339 nano UTC> <line>`, stdout and stderr merged in the order written. The log writer is
# a small Perl loop (Time::HiRes gives microseconds, padded to nanoseconds). It reads the pipe in chunks —
# a bash `read` loop reads a pipe one byte per syscall, ~100 KB/s measured — writes each chunk's lines
# with one write, splits lines longer than 16 KiB as the kubelet does, and rotates by size: once the file
# reaches <max-log-bytes> it becomes .1, .1 becomes .2, … up to <rotated-files-kept>.
set -u
root=$1 bundle=$2 id=$3 dir=$4 log=$5 max=$6 keep=$7 memcg=$8
export LC_ALL=C TZ=UTC

read -r -d '' LOG_WRITER <<'PERL'
use strict;
use warnings;
use Time::HiRes qw(gettimeofday);
use POSIX qw(strftime);
my ($log, $max, $keep) = @ARGV;
my $MAX_LINE = 16384;
my ($out, $size);
sub reopen { open($out, '>>', $log) or die "open $log: $!\n"; binmode $out; $size = -s $log // 0; }
sub rotate {
  close $out;
  for (my $i = $keep; $i > 1; $i--) { rename("$log." . ($i - 1), "$log.$i") if -e "$log." . ($i - 1); }
  if ($keep > 0) { rename($log, "$log.1"); } else { unlink($log); }
  reopen();
}
my ($lastSec, $prefix) = (-1, '');
sub stamp {
  my ($s, $us) = gettimeofday();
  if ($s != $lastSec) { $prefix = strftime('%Y-%m-%dT%H:%M:%S', gmtime($s)); $lastSec = $s; }
  return sprintf('%s.%06d000Z ', $prefix, $us);
}
reopen();
binmode STDIN;
my $pending = '';
while (1) {
  my $n = sysread(STDIN, my $chunk, 65536);
  last if !defined $n || $n == 0;
  $pending .= $chunk;
  my $batch = '';
  while ((my $nl = index($pending, "\n")) >= 0 || length($pending) >= $MAX_LINE) {
    my $len = ($nl >= 0 && $nl < $MAX_LINE) ? $nl + 1 : $MAX_LINE;
    my $line = substr($pending, 0, $len, '');
    $line .= "\n" if substr($line, -1) ne "\n";
    $line = stamp() . $line;
    $batch .= $line;
    $size += length $line;
    if ($size >= $max) { print $out $batch; $batch = ''; rotate(); }
  }
  next if $batch eq '';
  print $out $batch;
  $out->flush();
}
print $out stamp() . $pending . "\n" if $pending ne '';
close $out;
PERL

now() {
  local t=$EPOCHREALTIME
  printf '%(%Y-%m-%dT%H:%M:%S)T.%s000Z' "${t%.*}" "${t#*.}"
}

runc --root "$root" --log "$dir/runc.log" --log-format json run --keep --bundle "$bundle" --pid-file "$dir/pid" "$id" </dev/null 2>&1 |
  perl -e "$LOG_WRITER" "$log" "$max" "$keep"
code=${PIPESTATUS[0]}
finished=$(now)
oom=0
if [[ -r $memcg/memory.oom_control ]]; then
  while read -r key value; do
    if [[ $key == oom_kill ]]; then oom=$value; fi
  done <"$memcg/memory.oom_control"
fi
runc --root "$root" --log "$dir/runc.log" --log-format json delete "$id" 2>/dev/null
printf '%s %s %s\n' "$code" "$finished" "$oom" >"$dir/exit.tmp"
mv -f "$dir/exit.tmp" "$dir/exit"
