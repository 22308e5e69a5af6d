#!/usr/bin/env bash
# Builds the guest the VM tests boot under qemu: Debian's own kernel (AppArmor and SELinux built
# in, every cgroup controller available to a pure cgroup2 mount) and a small initramfs of
# busybox, the virtio/9p/overlay/fuse modules and test/vm/init.sh. The guest's root file system
# is this machine's, shared read-only over 9p, so node, trun and the tests need no copying.
# Output: build/vm/vmlinuz, build/vm/initrd.gz. Quick when they are already up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/vm
mkdir -p "$out"

if [ ! -f "$out/vmlinuz" ]; then
  kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
  pkg=$(kernel_pkg)
  if [ -z "$pkg" ]; then apt-get update -qq && pkg=$(kernel_pkg); fi  # no package lists yet
  [ -n "$pkg" ] || { echo "vm-image: no linux-image package behind linux-image-amd64" >&2; exit 1; }
  rm -rf "$out/pkg" && mkdir -p "$out/pkg"
  (cd "$out/pkg" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  deb=$(ls "$out"/pkg/*.deb)
  dpkg-deb -x "$deb" "$out/pkg/root"
  rm -rf "$out/modules" && mkdir -p "$out/modules"
  # The modules a 9p root and the tests need, in load order.
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay fuse; do
    f=$(find "$out/pkg/root/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -1)
    [ -n "$f" ] || { echo "vm-image: module $m not in $deb" >&2; exit 1; }
    case "$f" in *.xz) xz -dc "$f" > "$out/modules/$m.ko" ;; *) cp "$f" "$out/modules/$m.ko" ;; esac
  done
  echo "virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay fuse" > "$out/modules/order"
  cp "$out"/pkg/root/boot/vmlinuz-* "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
  rm -rf "$out/pkg"
fi

if [ ! -f "$out/initrd.gz" ] || [ test/vm/init.sh -nt "$out/initrd.gz" ]; then
  tree="$out/initrd"
  rm -rf "$tree" && mkdir -p "$tree"/{bin,dev,proc,sys,newroot,lib}
  cp /bin/busybox "$tree/bin/busybox"
  cp -r "$out/modules" "$tree/lib/modules"
  cp test/vm/init.sh "$tree/init" && chmod 755 "$tree/init"
  (cd "$tree" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) | gzip -1 > "$out/initrd.gz.tmp"
  mv "$out/initrd.gz.tmp" "$out/initrd.gz"
  rm -rf "$tree"
fi
