#!/usr/bin/env bash
# Makes this machine ready to build, run and test xlb: installs the Debian packages
# and npm modules it lacks, builds the BPF object and the TypeScript, mounts bpffs.
# Idempotent, and silent when everything is already there.
#
#   bash scripts/bootstrap.sh            # what `npm start` and `npm test` run first
#   XLB_APT_EXTRA="nginx" bash scripts/bootstrap.sh   # more packages (benchmarks)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Debian packages: build (clang, libbpf headers, make), check the C (clang-format,
# clang-tidy: scripts/check-c.sh), run (libbpf1, iproute2), operate and debug (bpftool,
# ethtool), try the demo (nc), test (dnsmasq, kdig, ping), benchmark peers (nginx with its
# stream module, nftables), check the metrics (promtool, in Debian's prometheus package; its
# service is not started) and the unit (systemd-analyze; strace: what the daemon uses against its
# system call filter), test the Debian package on a fresh Debian root (debootstrap;
# scripts/debian-root.sh), and boot Debian's kernels in guests for test/kernels (QEMU, a static
# busybox for the initramfs, kmod's depmod, xz).
APT_PKGS=(clang-14 clang-format-14 clang-tidy-14 llvm-14 libbpf-dev libbpf1 bpftool iproute2 ethtool make
  util-linux netcat-openbsd iputils-ping dnsmasq-base knot-dnsutils nginx libnginx-mod-stream nftables
  prometheus systemd strace debootstrap qemu-system-x86 busybox-static kmod xz-utils
  ${XLB_APT_EXTRA:-})

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "missing Debian packages: ${missing[*]} — run as root, or: sudo apt-get install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Installed packages must not start services (nginx would listen on :80 of this host).
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq >/dev/null || die "apt-get update failed (is a Debian mirror reachable?)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
fi

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
((major >= 20)) || die "Node.js >= 20 is required (found $(node --version 2>/dev/null || echo none))"

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
fi

make -s -C bpf || die "building the BPF object failed (see above)"
npx tsc -p . || die "TypeScript build failed (see above)"

# npm test (XLB_TEST_FIXTURES=1): the fixture that takes minutes to make the first time, so that
# no test file waits for it: a fresh Debian 12 root for the package test (cached).
if [[ -n ${XLB_TEST_FIXTURES:-} && $(id -u) == 0 ]]; then
  bash scripts/debian-root.sh >/dev/null || die "making the Debian root for the package test failed (see above)"
fi

if ! mountpoint -q /sys/fs/bpf; then
  if [[ $(id -u) == 0 ]]; then
    mount -t bpf bpf /sys/fs/bpf || die "could not mount bpffs on /sys/fs/bpf"
  else
    say "note: bpffs is not mounted on /sys/fs/bpf (as root: mount -t bpf bpf /sys/fs/bpf)"
  fi
fi
