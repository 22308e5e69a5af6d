#!/usr/bin/env bash
# Builds a busybox image from Debian's busybox-static (the same tree as test/helpers/rootfs.ts's
# makeBusyboxRootfs) and imports it into trun-bundle's store.
#   usage: scripts/make-busybox-image.sh [IMAGE[:TAG]]     (default busybox:latest)
#   env:   TRUN_BUSYBOX (default /bin/busybox), TRUN_STORE (default /var/lib/trun),
#          TRUN_BUNDLE_CLI (default dist/trun-bundle.js beside this script)
set -euo pipefail

image="${1:-busybox:latest}"
busybox="${TRUN_BUSYBOX:-/bin/busybox}"
here="$(cd "$(dirname "$0")/.." && pwd)"
cli="${TRUN_BUNDLE_CLI:-$here/dist/trun-bundle.js}"
store_args=()
[ -n "${TRUN_STORE:-}" ] && store_args=(--store "$TRUN_STORE")

if ! "$busybox" --list-full >/dev/null 2>&1; then
  echo "make-busybox-image: $busybox is not a static busybox (apt-get install busybox-static)" >&2
  exit 1
fi
[ -f "$cli" ] || { echo "make-busybox-image: $cli not found (run make build)" >&2; exit 1; }

rootfs="$(mktemp -d /tmp/trun-busybox-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

for d in bin sbin usr/bin usr/sbin etc proc sys dev tmp root var home; do mkdir -p "$rootfs/$d"; done
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
chmod 755 "$rootfs/bin/busybox"
"$busybox" --list-full | while read -r rel; do
  [ -n "$rel" ] && [ "$rel" != bin/busybox ] && [ ! -e "$rootfs/$rel" ] && [ ! -L "$rootfs/$rel" ] && ln -s /bin/busybox "$rootfs/$rel"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
  'user:x:1000:1000:user:/home/user:/bin/sh' > "$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'wheel:x:10:user' 'users:x:100:user' 'nogroup:x:65534:' 'user:x:1000:' > "$rootfs/etc/group"

node "$cli" "${store_args[@]}" import-rootfs "$rootfs" "$image" --change 'CMD ["/bin/sh"]' --message 'busybox from Debian busybox-static'
