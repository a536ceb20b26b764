#!/usr/bin/env bash
# A Debian bookworm base image with Python 3.11, made from Debian's packages (no image registry):
#   scripts/debian-base-image.sh [IMAGE]          # default cemap-base:bookworm
# then: docker build --network host --build-arg BASE=cemap-base:bookworm ...
# Needs root, debootstrap and a running Docker daemon (apt-get install docker.io debootstrap).
# Does nothing when IMAGE already exists; FORCE=1 rebuilds it.
set -euo pipefail
image="${1:-cemap-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image exists (FORCE=1 to rebuild)"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "debootstrap not found: apt-get install -y debootstrap" >&2
    exit 1
}
rootfs="$(mktemp -d /tmp/cemap-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
# python3-venv gives `python3 -m venv` with pip; ca-certificates for HTTPS package indexes.
debootstrap --variant=minbase \
    --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$image"
docker image ls "$image"
