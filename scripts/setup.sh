#!/usr/bin/env bash
# Installs what building and testing trun needs on a Debian machine (run as root). Quick when
# everything is already there: apt is only asked for what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(gcc make libc6-dev pkg-config libseccomp-dev busybox-static util-linux iproute2 iptables containernetworking-plugins umoci skopeo zstd
  qemu-system-x86 apparmor selinux-policy-default policycoreutils # these four: test/vm's guests
  containerd podman) # the real callers (test/integration/containerd, podman): ctr and the shim; podman pulls in conmon
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/vm-image.sh
