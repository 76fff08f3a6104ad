#!/bin/sh
# The guest's /init (busybox sh, PID 1), built into the initramfs by test/kernels/guest.ts.
#
# Stage 1 (in the initramfs): load the modules listed in /modules.order (virtio, 9p,
# overlay), mount the host's root read-only over 9p (tag "root") under a tmpfs overlay,
# mount the job directory (tag "job", writable, the host's per-run directory) at
# /run/xlb-guest, mount /proc, /sys, /dev, bpffs, a fresh /run, bind the guest kernel's modules
# (the host's cache, path in /modules.dir) at /lib/modules/$(uname -r), then switch_root
# into the overlay with this script as stage 2.
#
# Stage 2 (PID 1 of the overlay root): sysctls and lo, run /run/xlb-guest/job.sh with its
# output on the console (the host reads the serial port), write its exit status to
# /run/xlb-guest/status, power off. Modules load on demand (the kernel's modprobe is the
# host's kmod, which finds the guest's tree at /lib/modules).
#
# Any failure prints "xlb-guest: <what>" and powers off without a status file: the host
# reports the console's tail.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

bb=/bin/busybox
[ "$1" = stage2 ] && bb=/run/xlb-guest-init/busybox
fail() {
	echo "xlb-guest: $*" >/dev/console
	sync
	exec $bb poweroff -f
}

if [ "$1" != stage2 ]; then
	/bin/busybox --install -s /bin
	mount -t proc proc /proc
	mount -t sysfs sys /sys
	mount -t devtmpfs dev /dev
	while read -r m; do
		insmod "/modules/$m" || fail "insmod $m failed"
	done </modules.order
	mkdir -p /lower /rw /newroot
	mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose root /lower ||
		fail 'mounting the host root over 9p failed'
	mount -t tmpfs -o mode=0755 rw /rw
	mkdir -p /rw/upper /rw/work
	mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
		fail 'the overlay mount failed'
	mount -t proc proc /newroot/proc
	mount -t sysfs sys /newroot/sys
	mount -t devtmpfs dev /newroot/dev
	mkdir -p /newroot/dev/pts /newroot/dev/shm
	mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
	mount -t tmpfs shm /newroot/dev/shm
	mount -t bpf bpf /newroot/sys/fs/bpf
	mount -t tmpfs -o mode=0755 run /newroot/run
	mkdir -p /newroot/run/xlb-guest
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job /newroot/run/xlb-guest ||
		fail 'mounting the job directory over 9p failed'
	kver=$(uname -r)
	mods=$(cat /modules.dir)
	mkdir -p "/newroot/lib/modules/$kver"
	mount --bind "/newroot$mods" "/newroot/lib/modules/$kver" || fail "binding $mods failed"
	mkdir -p /newroot/run/xlb-guest-init
	cp /init /bin/busybox /newroot/run/xlb-guest-init/
	exec switch_root /newroot /run/xlb-guest-init/busybox sh /run/xlb-guest-init/init stage2
	fail 'switch_root failed'
fi

# Stage 2.
$bb ip link set lo up
$bb hostname xlb-guest
[ -d /sys/fs/cgroup ] && $bb mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
cd /run/xlb-guest || fail 'no job directory'
echo "xlb-guest: job starts on $($bb uname -r) after $($bb cut -d' ' -f1 /proc/uptime) s" >/dev/console
sh /run/xlb-guest/job.sh </dev/null >/dev/console 2>&1
echo $? >/run/xlb-guest/status
sync
exec $bb poweroff -f
