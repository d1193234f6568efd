#!/usr/bin/env bash
# Build the service images from the repository root with Docker, Podman or Buildah.
#
#   deploy/build-images.sh [service...]       # default: every services/*/Dockerfile
#
# Environment:
#   IMAGE_PREFIX (kervan), IMAGE_TAG (dev)      image names: $IMAGE_PREFIX/<service>:$IMAGE_TAG
#   BUILDER (auto)                              docker | podman | buildah; auto picks the first found
#   BASE_IMAGES (registry)                      registry: the Dockerfiles' pinned python and uv
#                                               images. local: build both from Debian packages and
#                                               the uv on PATH instead (no container registry
#                                               needed; Python is Debian bookworm's 3.11)
#
# Buildah/Podman keep the HEALTHCHECK only in the docker image format, hence --format docker.
set -euo pipefail
cd "$(dirname "$0")/.."

services=("$@")
if [ ${#services[@]} -eq 0 ]; then
  for dockerfile in services/*/Dockerfile; do
    services+=("$(basename "$(dirname "$dockerfile")")")
  done
fi
prefix=${IMAGE_PREFIX:-kervan}
tag=${IMAGE_TAG:-dev}

log() { printf 'build-images: %s\n' "$*" >&2; }

builder=${BUILDER:-auto}
if [ "$builder" = auto ]; then
  for candidate in docker podman buildah; do
    if command -v "$candidate" >/dev/null 2>&1; then builder=$candidate; break; fi
  done
  [ "$builder" != auto ] || { log "no docker, podman or buildah found (Debian: apt-get install buildah)"; exit 1; }
fi
case "$builder" in
  docker) build=(docker build) ;;
  podman) build=(podman build --format docker) ;;
  # chroot isolation: no user namespaces or nested runtime needed (works inside a VM/sandbox).
  buildah) build=(buildah bud --format docker --layers --isolation chroot) ;;
  *) log "unknown BUILDER=$builder"; exit 1 ;;
esac

build_args=()
if [ "${BASE_IMAGES:-registry}" = local ]; then
  [ "$builder" = buildah ] || { log "BASE_IMAGES=local needs BUILDER=buildah"; exit 1; }
  uv_version=$(sed -n 's/^ARG UV_IMAGE=.*:\([0-9.]*\)$/\1/p' services/marketplace-sim/Dockerfile)
  have_uv=$(uv --version | awk '{print $2}')
  [ "$uv_version" = "$have_uv" ] || { log "uv on PATH is $have_uv, the Dockerfiles pin $uv_version"; exit 1; }
  base=localhost/kervan-base:bookworm-py311
  uv_image=localhost/kervan-uv:$uv_version
  if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { log "BASE_IMAGES=local needs debootstrap (apt-get install debootstrap)"; exit 1; }
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    log "debootstrap bookworm (python3) into $rootfs"
    debootstrap --variant=minbase --include=python3,python-is-python3,ca-certificates \
      bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    # The build trusts what this host trusts (e.g. a TLS-intercepting proxy's CA for PyPI).
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    container=$(buildah from scratch)
    buildah copy "$container" "$rootfs" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$container"
    buildah commit -q --rm "$container" "$base" >/dev/null
  fi
  if ! buildah inspect --type image "$uv_image" >/dev/null 2>&1; then
    # The real executable, not a version manager's shim script.
    uv_bin=$(readlink -f "$(command -v uv)")
    if [ "$(head -c 4 "$uv_bin" | od -An -c | tr -d ' ')" != '177ELF' ]; then
      uv_bin=$(pyenv which uv 2>/dev/null) || { log "cannot locate the uv executable behind $uv_bin"; exit 1; }
    fi
    container=$(buildah from scratch)
    buildah copy "$container" "$uv_bin" /uv >/dev/null
    buildah commit -q --rm "$container" "$uv_image" >/dev/null
  fi
  build_args=(--build-arg "PYTHON_IMAGE=$base" --build-arg "UV_IMAGE=$uv_image")
fi

for service in "${services[@]}"; do
  dockerfile=services/$service/Dockerfile
  [ -f "$dockerfile" ] || { log "no $dockerfile"; exit 1; }
  started=$(date +%s)
  log "$service: ${build[*]} -f $dockerfile -t $prefix/$service:$tag ."
  [ "$builder" != buildah ] || before=$(buildah containers -q | sort)
  "${build[@]}" "${build_args[@]}" -f "$dockerfile" -t "$prefix/$service:$tag" . >&2
  if [ "$builder" = buildah ]; then
    # Buildah 1.28 leaves the working container of a stage used only by COPY --from (uv).
    mapfile -t leftover < <(comm -13 <(printf '%s\n' "$before") <(buildah containers -q | sort))
    [ ${#leftover[@]} -eq 0 ] || buildah rm "${leftover[@]}" >/dev/null
  fi
  log "$service: built in $(( $(date +%s) - started )) s"
done
