#!/bin/busybox sh
# The initramfs's /init in the VM tests' guest. It mounts this machine's root read-only over 9p
# (tag "hostroot"), the job's work directory read-write (tag "work", at /mnt), writable tmpfs
# where the tests write (/tmp, /run, /root, /var/tmp), the repository on its own (tag "repo", at
# the path trun.repo= names, so a clone under one of those tmpfs stays visible), a pure cgroup2 hierarchy at
# /sys/fs/cgroup and securityfs, then switch_roots into test/vm/guest.sh, whose path the host
# passes as trun.guest= on the kernel command line. switch_root, not chroot: a chrooted process
# may not create user namespaces.
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "trun-vm-init: $*"; poweroff -f; }
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m.ko" || fail "insmod $m"; done
guest= repo=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    trun.guest=*) guest="${arg#trun.guest=}" ;;
    trun.repo=*) repo="${arg#trun.repo=}" ;;
  esac
done
[ -n "$guest" ] || fail "no trun.guest= on the kernel command line"
[ -n "$repo" ] || fail "no trun.repo= on the kernel command line"
R=/newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot $R || fail "mount hostroot"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 work $R/mnt || fail "mount work"
for d in /proc /sys /dev; do mount --move $d $R$d; done
for d in /tmp /run /root /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs $R$d || fail "tmpfs $d"; done
[ -d "$R$repo" ] || mkdir -p "$R$repo" || fail "mkdir $repo"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose repo "$R$repo" || fail "mount repo"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs shm $R/dev/shm
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
mount -t securityfs securityfs $R/sys/kernel/security || true
[ -d $R/sys/fs/selinux ] && mount -t selinuxfs selinuxfs $R/sys/fs/selinux 2>/dev/null
exec switch_root $R /bin/busybox sh "$guest"
