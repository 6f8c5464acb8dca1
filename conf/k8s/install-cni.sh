#!/bin/sh
# Installs the cni-sriov binary into the node's CNI binary directory, as the CNI installer
# DaemonSet's init container runs it:  install-cni.sh [SRC] [DEST_DIR]
#   SRC       the binary in the image (default /usr/local/bin/cni-sriov)
#   DEST_DIR  the host's CNI directory, mounted from the node (default /host/opt/cni/bin)
#
# The copy is atomic: the binary is written to a temporary file in DEST_DIR and renamed over
# the old one, so a kubelet exec'ing the plugin at that moment runs either the old or the new
# file, never half of one, and a running plugin (its old inode) is never disturbed ("text file
# busy" cannot happen). Idempotent: an identical binary is left alone.
set -eu
SRC=${1:-/usr/local/bin/cni-sriov}
DEST_DIR=${2:-/host/opt/cni/bin}
NAME=${NAME:-cni-sriov}
DEST="$DEST_DIR/$NAME"

[ -f "$SRC" ] || { echo "install-cni: no binary at $SRC" >&2; exit 1; }
[ -d "$DEST_DIR" ] || { echo "install-cni: $DEST_DIR is not a directory (mount the host's CNI bin dir there)" >&2; exit 1; }

if [ -f "$DEST" ] && cmp -s "$SRC" "$DEST"; then
  echo "install-cni: $DEST is up to date"
  exit 0
fi
TMP="$DEST_DIR/.$NAME.tmp.$$"
trap 'rm -f "$TMP"' EXIT
cp "$SRC" "$TMP"
chmod 0755 "$TMP"
mv -f "$TMP" "$DEST"
trap - EXIT
echo "install-cni: installed $DEST"
