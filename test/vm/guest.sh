# PID 1 of the VM tests' guest, after test/vm/init.sh: hands every controller down from the root
# cgroup (a pure cgroup2 host, as systemd sets one up), runs the job the host wrote to
# /mnt/job from the repository, keeps its output in /mnt/out and its exit status in /mnt/rc,
# and powers off. The job runs under build/subreaper, as containerd's shim would.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
ip link set lo up
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
cd "$(cat /mnt/repo)"
echo "guest: lsm=$(cat /sys/kernel/security/lsm 2>/dev/null) cgroup2=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
build/subreaper /bin/sh /mnt/job > /mnt/out 2>&1
echo $? > /mnt/rc.tmp && mv /mnt/rc.tmp /mnt/rc
sync
/bin/busybox poweroff -f
