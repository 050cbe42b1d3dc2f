#!/usr/bin/env bash
# demo.sh — airsign end to end on the committed fixtures, offline:
# a store, imports, a listing, a cosign key pair, the payloads cosign would sign,
# and a full fsck. `make demo` builds the release binary and runs this.
#   AIRSIGN   the binary (default target/release/airsign)
#   DEMO_DIR  work here and keep the result (default: a temp dir, removed at the end)
# -E: the ERR trap (which names the failed step) also fires inside functions
set -Eeuo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AIRSIGN=${AIRSIGN:-$ROOT/target/release/airsign}
case $AIRSIGN in /*) ;; *) AIRSIGN=$ROOT/$AIRSIGN ;; esac
[ -x "$AIRSIGN" ] || { echo "demo: no airsign binary at $AIRSIGN (run: cargo build --release)" >&2; exit 1; }
FIX=$ROOT/fixtures
# The user's own settings must not leak into the demo.
unset AIRSIGN_STORE COSIGN_PASSWORD

if [ -n "${DEMO_DIR:-}" ]; then
  mkdir -p "$DEMO_DIR"
  D=$(cd "$DEMO_DIR" && pwd)
else
  D=$(mktemp -d -t airsign-demo.XXXXXX)
  trap 'rm -rf "$D"' EXIT
fi
S=$D/store
K=$D/cosign
REPO=registry.example.com/demo

STEP=0
step() {
  STEP=$((STEP + 1))
  printf '\n==> %d. %s\n' "$STEP" "$*"
}
# show CMD...: prints the command, then runs it
show() {
  printf '$ %s\n' "$*" | sed "s|$AIRSIGN|airsign|g; s|$D/|\$DEMO/|g; s|$ROOT/||g"
  "$@"
}
trap 'echo "demo: step $STEP failed (exit $?)" >&2' ERR

echo "airsign demo in $D ($("$AIRSIGN" --version))"

step "Create the store (an OCI image layout)"
show "$AIRSIGN" --store "$S" store init

step "Import every fixture layout (tags become $REPO/<name>:<tag>)"
for name in single multi umoci skopeo; do
  show "$AIRSIGN" --store "$S" import "oci:$FIX/$name" --repository "$REPO/$name"
done
# repos/ already names full references (registry.example.com/team/...)
show "$AIRSIGN" --store "$S" import "oci:$FIX/repos"

step "List the store"
show "$AIRSIGN" --store "$S" ls

step "Generate a cosign key pair (ECDSA P-256, encrypted with COSIGN_PASSWORD)"
export COSIGN_PASSWORD=demo-password
show "$AIRSIGN" generate-key-pair --output-key-prefix "$K"
ls -l "$K.key" "$K.pub"
cat "$K.pub"

step "The simple-signing payloads cosign would sign, one per image"
for ref in "$REPO/single:v1" "$REPO/multi:v1" "$REPO/umoci:v1" "$REPO/skopeo:v1" \
           registry.example.com/team/app:v1 registry.example.com/team/app:v2 \
           registry.example.com/team/tool:1.0; do
  show "$AIRSIGN" --store "$S" generate "$ref"
  echo
done
show "$AIRSIGN" --store "$S" generate -a build=demo -a by=airsign "$REPO/single:v1"
echo

step "Check the store: every blob re-hashed, everything index.json reaches present"
show "$AIRSIGN" --store "$S" fsck

printf '\n==> done%s\n' "$([ -n "${DEMO_DIR:-}" ] && echo ": store in $S, keys $K.key/$K.pub")"
