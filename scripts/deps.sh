#!/usr/bin/env bash
# Installs the Debian 12 packages cmesos needs to build, test and run, skipping what is there.
# Sourced or run by scripts/quickstart.sh and scripts/test.sh; needs root when something is missing.
set -euo pipefail

CMESOS_PACKAGES=(
  gcc libc6-dev make cmake pkg-config
  protobuf-c-compiler libprotobuf-c-dev
  libevent-dev libcurl4-openssl-dev libjansson-dev libzookeeper-mt-dev
  zookeeper
  clang-format curl procps ca-certificates
  tar gzip bzip2 xz-utils unzip zip zlib1g-dev # zlib: gzip image layers
  clang libclang-rt-14-dev # libFuzzer and the sanitizer runtimes for scripts/fuzz.sh
  libssl-dev openssl
  docker.io skopeo umoci busybox-static # containers from images (tests build images at run time)
  chromium chromium-driver python3-selenium fonts-dejavu-core # the web UI's browser tests
  python3-dev python3-protobuf protobuf-compiler # Mesos's Python API (mesos.native)
  gnuplot-nox # bench/ plots
)

missing=()
for pkg in "${CMESOS_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "cmesos: installing missing packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "cmesos: run as root (or install these packages yourself): ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
