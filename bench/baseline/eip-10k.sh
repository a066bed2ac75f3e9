#!/bin/sh
# Baseline for "one EIP added / removed with 10,000 loaded": one plain nft element add (or delete) in
# both 1:1 NAT maps plus the EIP's host route, as separate commands. Run by bench/agent.ts.
#
# Usage: eip-10k.sh add|del HOST_NS ROUTER_NS UPLINK_HOST ROUTER_IP EIP IP
set -eu
OP=$1 HOST_NS=$2 ROUTER_NS=$3 UPLINK_HOST=$4 ROUTER_IP=$5 EIP=$6 IP=$7
if [ "$OP" = add ]; then
  nsenter --net=/var/run/netns/"$ROUTER_NS" nft add element inet eci eip_in "{ $EIP : $IP }"
  nsenter --net=/var/run/netns/"$ROUTER_NS" nft add element inet eci eip_out "{ $IP : $EIP }"
  ip -n "$HOST_NS" route replace "$EIP/32" via "$ROUTER_IP" dev "$UPLINK_HOST"
else
  nsenter --net=/var/run/netns/"$ROUTER_NS" nft delete element inet eci eip_in "{ $EIP }"
  nsenter --net=/var/run/netns/"$ROUTER_NS" nft delete element inet eci eip_out "{ $IP }"
  ip -n "$HOST_NS" route del "$EIP/32"
fi
