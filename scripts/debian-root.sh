#!/usr/bin/env bash
# Prints the path of a tarball holding a fresh Debian 12 (bookworm, amd64) root filesystem,
# made with `debootstrap --variant=minbase bookworm` the first time and cached outside the
# repository. The package test unpacks a copy per test, so every test starts from a machine
# that has never seen xlb. minbase (the essential packages and apt) is a subset of every stock
# install: what the package needs beyond it must come through its Depends from the mirror (the
# default variant already has libbpf1 and iproute2, so it would not notice a missing one).
#
#   bash scripts/debian-root.sh            # -> /var/cache/xlb-test/debian-bookworm-minbase-amd64.tar
#   XLB_TEST_CACHE=/srv/cache bash scripts/debian-root.sh
#   XLB_DEBIAN_MIRROR=http://mirror.example/debian bash scripts/debian-root.sh
#   bash scripts/debian-root.sh --cached   # only print it; exit 3 if it is not made yet
#
# The root's apt lists are fetched once when it is made (the test refreshes them with
# `apt-get update`, which downloads only what changed). Delete the tarball to make a new one.
# Needs root and the Debian package debootstrap (scripts/bootstrap.sh installs it).
set -euo pipefail

say() { printf 'debian-root: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

cache=${XLB_TEST_CACHE:-/var/cache/xlb-test}
mirror=${XLB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tarball=$cache/debian-bookworm-minbase-amd64.tar

if [[ -s $tarball ]]; then
  printf '%s\n' "$tarball"
  exit 0
fi
if [[ ${1:-} == --cached ]]; then
  say "no Debian root cached in $cache yet: run bash scripts/debian-root.sh once (debootstrap, minutes; npm test does it first)"
  exit 3
fi

[[ $(id -u) == 0 ]] || die "making a Debian root needs root (debootstrap, chroot): run as root"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap (or run scripts/bootstrap.sh)"
mkdir -p "$cache"

# One builder at a time; a second caller waits for the first one's tarball.
exec 9>"$cache/.debian-root.lock"
flock 9
if [[ -s $tarball ]]; then
  printf '%s\n' "$tarball"
  exit 0
fi

work=$(mktemp -d "$cache/root.XXXXXX")
chmod 755 "$work" # the root directory of the new system (mktemp makes it 0700)
cleanup() {
  # Never leave a mount behind inside a directory about to be removed.
  umount "$work/proc" 2>/dev/null || true
  rm -rf --one-file-system "$work" "$tarball.part"
}
trap cleanup EXIT

say "debootstrap --variant=minbase bookworm from $mirror (once; the tarball is cached in $cache)"
debootstrap --arch=amd64 --variant=minbase bookworm "$work" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
  die "debootstrap failed: see $cache/debootstrap.log (is $mirror reachable?)"

cp /etc/resolv.conf "$work/etc/resolv.conf"
mount -t proc proc "$work/proc"
chroot "$work" apt-get update -qq >/dev/null || die "apt-get update in the new root failed (is $mirror reachable?)"
umount "$work/proc"
chroot "$work" apt-get clean
rm -f "$work/etc/resolv.conf"

tar --numeric-owner --xattrs -cf "$tarball.part" -C "$work" .
mv "$tarball.part" "$tarball"
say "made $tarball ($(du -h "$tarball" | cut -f1))"
printf '%s\n' "$tarball"
