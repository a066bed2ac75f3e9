#!/bin/sh
# Baseline for "delete → every kernel object gone": kill + wait + plain delete of the container,
# unmount, nft elements and the EIP route removed, netns (and with it the veth pair) deleted.
# Tolerant: anything already gone is skipped. Run by bench/agent.ts (also for cleanup on failure).
#
# Usage: delete.sh HOST_NS ROUTER_NS INST_NS VETH IP EIP RUNC_ROOT BUNDLE ID
set -u
HOST_NS=$1 ROUTER_NS=$2 INST_NS=$3 VETH=$4 IP=$5 EIP=$6 RUNC_ROOT=$7 BUNDLE=$8 ID=$9

if runc --root "$RUNC_ROOT" state "$ID" >/dev/null 2>&1; then
  runc --root "$RUNC_ROOT" kill "$ID" KILL 2>/dev/null
  # wait until the init process is gone (runc reports "stopped")
  i=0
  while [ $i -lt 500 ] && ! runc --root "$RUNC_ROOT" state "$ID" 2>/dev/null | grep -q '"status": "stopped"'; do
    i=$((i + 1))
    sleep 0.01
  done
  runc --root "$RUNC_ROOT" delete "$ID"
fi
mountpoint -q "$BUNDLE/rootfs" 2>/dev/null && umount "$BUNDLE/rootfs"
nsenter --net=/var/run/netns/"$ROUTER_NS" nft -f - 2>/dev/null <<EOF
delete element inet eci eip_in { $EIP }
delete element inet eci eip_out { $IP }
delete element inet eci inst_addr { "$VETH" . $IP }
EOF
ip -n "$HOST_NS" route del "$EIP/32" 2>/dev/null
ip -n "$ROUTER_NS" link del "$VETH" 2>/dev/null
ip netns del "$INST_NS" 2>/dev/null
rm -rf "$BUNDLE"
exit 0
