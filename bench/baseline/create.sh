#!/bin/sh
# Baseline for "create → reachable": the same kernel steps the agent takes for one instance, as plain
# ip / nft / mount / runc commands (no store, no API, no reconcile loop). Run by bench/agent.ts.
#
# Usage: create.sh HOST_NS ROUTER_NS UPLINK_HOST ROUTER_IP INST_NS VETH IP GW EIP RUNC_ROOT BUNDLE ID ROOTFS
set -eu
HOST_NS=$1 ROUTER_NS=$2 UPLINK_HOST=$3 ROUTER_IP=$4 INST_NS=$5 VETH=$6 IP=$7 GW=$8 EIP=$9
shift 9
RUNC_ROOT=$1 BUNDLE=$2 ID=$3 ROOTFS=$4

# netns + veth + addresses + routes. The instance side is up before the router's /32 route exists, so
# a packet arriving meanwhile never sends an ARP request into a link without carrier (which would stall
# that neighbour for the 1 s retransmit time).
ip netns add "$INST_NS"
ip -n "$ROUTER_NS" link add "$VETH" type veth peer name eth0 netns "$INST_NS"
ip -n "$INST_NS" link set lo up
ip -n "$INST_NS" addr add "$IP/32" dev eth0
ip -n "$INST_NS" link set eth0 up
ip -n "$INST_NS" route add "$GW/32" dev eth0 scope link
ip -n "$INST_NS" route add default via "$GW" dev eth0
nsenter --net=/var/run/netns/"$ROUTER_NS" sh -c "echo 1 > /proc/sys/net/ipv4/conf/$VETH/proxy_arp && echo 0 > /proc/sys/net/ipv4/neigh/$VETH/proxy_delay"
ip -n "$ROUTER_NS" link set "$VETH" up
ip -n "$ROUTER_NS" route replace "$IP/32" dev "$VETH"

# nft map elements (1:1 NAT and anti-spoofing) and the host route of the EIP
nsenter --net=/var/run/netns/"$ROUTER_NS" nft -f - <<EOF
add element inet eci eip_in { $EIP : $IP }
add element inet eci eip_out { $IP : $EIP }
add element inet eci inst_addr { "$VETH" . $IP }
EOF
ip -n "$HOST_NS" route replace "$EIP/32" via "$ROUTER_IP" dev "$UPLINK_HOST"

# runc run of the busybox bundle (overlay over the read-only image, like the agent)
mkdir -p "$BUNDLE/rootfs" "$BUNDLE/upper" "$BUNDLE/work"
mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$BUNDLE/upper,workdir=$BUNDLE/work" "$BUNDLE/rootfs"
sed "s|__NETNS__|/var/run/netns/$INST_NS|" "$BUNDLE/../config.template.json" > "$BUNDLE/config.json"
runc --root "$RUNC_ROOT" run -d --bundle "$BUNDLE" "$ID" </dev/null >"$BUNDLE/out.log" 2>&1
