#!/usr/bin/env bash
# Installs everything Skiff needs on Debian 12 as root: the Debian packages it runs and tests
# with, pnpm, the workspace dependencies, and the build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runtime: runc, conmon, netavark (with iptables, which it needs), uidmap, slirp4netns,
# fuse-overlayfs, zstd.
# Tests and interop: busybox-static (test images), docker-registry, skopeo, podman, buildah,
# apache2-utils (htpasswd), hyperfine and time (benchmarks); g++/make/python3 build better-sqlite3.
DEBIAN_PACKAGES=(
  runc conmon netavark aardvark-dns uidmap slirp4netns fuse-overlayfs zstd
  busybox-static docker-registry skopeo podman buildah apache2-utils hyperfine time
  g++ make python3 iptables
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian registry package starts a system service on install; Skiff's tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

PNPM_VERSION=12.4.2
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "Installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION"
fi

# better-sqlite3 compiles from source; point node-gyp at the headers Node ships in /usr/include
# instead of letting it download them (there is no internet here).
if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
pnpm install --frozen-lockfile --reporter=append-only
pnpm turbo run build --output-logs=errors-only
