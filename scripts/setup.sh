#!/usr/bin/env bash
# Brings a fresh Debian machine (with Node.js and root) to the point where `npx eci dev` and `npm test`
# run: Debian packages the project uses, then the npm dependencies, which include the pinned Node.js 24
# runtime (the `node` package) that bin/eci and the npm scripts run on. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: the shared store, and the store contract tests run against a real server.
# iproute2, nftables, runc, busybox-static, iperf3, curl, perl: the host agent's data plane (perl: the container log writer) and its tests.
# tar, attr (setfattr): unpacking image layers into overlayfs layers (whiteouts, opaque directories).
# bsdutils (util-linux `script`): the terminal of an interactive exec with TTY.
# docker-registry, skopeo, umoci, apache2-utils (htpasswd), openssl: the image tests' loopback registry and
# the images they build and push; skopeo is also the cold-pull benchmark's baseline.
packages=(postgresql iproute2 nftables runc busybox-static iperf3 curl perl tar attr bsdutils docker-registry skopeo umoci apache2-utils openssl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d answers 101: packages (postgresql, docker-registry) must not start system services; the
  # tests start their own servers on loopback.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; own_policy=1; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
  # The tests start their own clusters; the packaged one is not needed.
  if command -v pg_ctlcluster >/dev/null; then
    for c in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do pg_ctlcluster "${c%/*}" "${c#*/}" stop 2>/dev/null || true; done
  fi
fi

if [ ! -x node_modules/node/bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
echo "setup: done ($(node_modules/node/bin/node --version))"
