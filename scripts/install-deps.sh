#!/usr/bin/env bash
# Installs every Debian package libpos needs to build, test and run. Idempotent and
# non-interactive: when everything is present it changes nothing and needs no root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git openssl clang-format curl jq
  libsodium-dev libfmt-dev rapidjson-dev libcpp-httplib-dev libssl-dev
  capnproto libcapnp-dev liblmdb-dev libabsl-dev
  catch2 libbenchmark-dev
  python3 python3-dev python3-pytest python3-nacl pybind11-dev
  chromium fonts-dejavu-core nodejs
  clang libclang-rt-14-dev iproute2
)
# The explorer's browser test drives Chromium with playwright-core from npm. NodeSource's nodejs
# ships npm itself and conflicts with Debian's npm package, so that is added only when missing.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-deps: missing packages and not root (run as root or install sudo)" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
