#!/usr/bin/env bash
# README set-up command 1: installs everything, puts the Skiff CLIs on PATH, and runs the main
# job: builds the local busybox base image, copies it between formats, inspects it, pulls it
# into the local store with skiff, lists it and runs a container from it (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

BIN_DIR=${SKIFF_BIN_DIR:-/usr/local/bin}
for app in apps/*/; do
  name=$(basename "$app")
  [ -x "$app/dist/$name.js" ] || continue
  ln -sf "$PWD/$app/dist/$name.js" "$BIN_DIR/$name"
  echo "Installed $BIN_DIR/$name"
done

DEMO=${SKIFF_DEMO_DIR:-/tmp/skiff-demo}
rm -rf "$DEMO"
mkdir -p "$DEMO"
echo
echo "== Building the busybox base image (OCI layout at $DEMO/busybox)"
node test/images/build-base-image.mjs "$DEMO/busybox" --name busybox:latest
echo
echo "== skiff-image copy oci:$DEMO/busybox:latest docker-archive:$DEMO/busybox.tar:busybox:latest"
skiff-image copy "oci:$DEMO/busybox:latest" "docker-archive:$DEMO/busybox.tar:busybox:latest"
echo
echo "== skiff-image copy docker-archive:$DEMO/busybox.tar oci-archive:$DEMO/busybox-oci.tar:latest"
skiff-image copy "docker-archive:$DEMO/busybox.tar" "oci-archive:$DEMO/busybox-oci.tar:latest"
echo
echo "== skiff-image inspect oci-archive:$DEMO/busybox-oci.tar:latest"
skiff-image inspect "oci-archive:$DEMO/busybox-oci.tar:latest"
echo
echo "== skiff-image inspect --format '{{.Digest}} {{.Os}}/{{.Architecture}}' oci:$DEMO/busybox:latest"
skiff-image inspect --format '{{.Digest}} {{.Os}}/{{.Architecture}}' "oci:$DEMO/busybox:latest"
echo
echo "== skiff pull oci:$DEMO/busybox:latest (into the default store)"
skiff pull "oci:$DEMO/busybox:latest"
echo
echo "== skiff images"
skiff images
echo
echo "== skiff tag localhost$DEMO/busybox:latest busybox"
skiff tag "localhost$DEMO/busybox:latest" busybox
echo
echo "== skiff run --rm busybox echo hello"
skiff run --rm busybox echo hello
