#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages cmpfs needs to build, test and benchmark,
# but only when one is missing (apt-get update first, as a fresh machine
# has no package lists). Usage: tools/deps.sh [build|test|bench]
set -euo pipefail

build_pkgs=(gcc pkg-config meson ninja-build libfuse3-dev fuse3
	libxxhash-dev libsodium-dev libssl-dev libcmocka-dev libibverbs-dev librdmacm-dev)
test_pkgs=(attr fio e2fsprogs util-linux mount iproute2 procps psmisc
	python3 kmod nftables tcpdump curl jq)
# gnuplot-nox: the benchmark's plots and cmp-sim's (tools/sim/plot.gp)
bench_pkgs=(nbdkit libnbd-bin sshfs openssh-server openssh-client
	gnuplot-nox)
# The clang libFuzzer build tools/test.sh builds, the man page and systemd
# unit checks.
test_pkgs+=(clang libclang-rt-dev man-db systemd)

want=("${build_pkgs[@]}")
case "${1:-build}" in
build) ;;
test) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing packages: ${missing[*]} (run as root)" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
