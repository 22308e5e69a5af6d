#!/usr/bin/env bash
# The main job on a built-in default: make a busybox image from Debian's busybox-static, run a
# container from it with trun, change a file, commit the change as a new image, run that.
# Everything lives under a temporary store and state dir, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
TRUN="node $PWD/dist/trun.js"
BUNDLE_CLI="node $PWD/dist/trun-bundle.js"
work=$(mktemp -d /var/tmp/trun-demo.XXXXXX)
store="$work/store"; root="$work/state"
cleanup() {
  $TRUN --root "$root" delete --force demo-1 >/dev/null 2>&1 || true
  $TRUN --root "$root" delete --force demo-2 >/dev/null 2>&1 || true
  $BUNDLE_CLI --store "$store" --quiet rm "$work/b1" "$work/b2" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a busybox root filesystem from $(command -v busybox)"
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list-full); do
  [ -e "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"

step "import it as the image busybox:latest"
$BUNDLE_CLI --store "$store" import-rootfs "$rootfs" busybox:latest --change 'CMD ["/bin/sh"]' --message "busybox from Debian's busybox-static"
$BUNDLE_CLI --store "$store" images

step "run a container from it, which changes its filesystem"
$BUNDLE_CLI --store "$store" --quiet create busybox:latest "$work/b1" -- sh -c 'echo "hello from $(hostname)"; echo "made inside demo-1" > /greeting; rm -rf /var'
$TRUN --root "$root" run --bundle "$work/b1" demo-1

step "commit the change as busybox:hello"
$BUNDLE_CLI --store "$store" commit "$work/b1" busybox:hello --author "trun demo" --message "add /greeting, drop /var"
$BUNDLE_CLI --store "$store" images

step "run the new image: the change is there"
$BUNDLE_CLI --store "$store" --quiet create busybox:hello "$work/b2" -- sh -c 'cat /greeting; ls -d /var 2>/dev/null || echo "/var is gone"'
$TRUN --root "$root" run --bundle "$work/b2" demo-2
step "done"
