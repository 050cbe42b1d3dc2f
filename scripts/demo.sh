#!/usr/bin/env bash
# demo.sh — airsign end to end on the committed fixtures, offline:
# a store, imports, a listing, a cosign key pair, the payloads cosign would sign,
# every image signed and verified, the .sig artifacts listed, and a full fsck; then
# the signed images carried across a simulated air gap: exported to an oci-archive
# on "the USB stick", checked there in place, imported into a second store ("the
# other side") and verified, listed and fsck'd there.
# `make demo` builds the release binary and runs this.
#   AIRSIGN   the binary (default target/release/airsign)
#   DEMO_DIR  work here and keep the result (default: a temp dir, removed at the end)
#   AIRSIGN_TEST_JQ  jq, to read `ls --json` and the verified payloads (default: jq)
# -E: the ERR trap (which names the failed step) also fires inside functions
set -Eeuo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AIRSIGN=${AIRSIGN:-$ROOT/target/release/airsign}
case $AIRSIGN in /*) ;; *) AIRSIGN=$ROOT/$AIRSIGN ;; esac
[ -x "$AIRSIGN" ] || { echo "demo: no airsign binary at $AIRSIGN (run: cargo build --release)" >&2; exit 1; }
FIX=$ROOT/fixtures
JQ=${AIRSIGN_TEST_JQ:-jq}
command -v "$JQ" >/dev/null || { echo "demo: jq not found (run: make demo, which installs it)" >&2; exit 1; }
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
# show_to FILE CMD...: the same, with the command's stdout in FILE
show_to() {
  local out=$1
  shift
  printf '$ %s > %s\n' "$*" "$out" | sed "s|$AIRSIGN|airsign|g; s|$D/|\$DEMO/|g; s|$ROOT/||g"
  "$@" > "$out"
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

step "Sign every image (-r: each platform of an index too), keeping signatures and certificate as files"
# One file per signed digest: sig-sha256-<hex>. A digest that several repositories
# share (team/app:v1 is demo/single:v1) gets one file, its last signature.
mkdir -p "$D/sigs"
show "$AIRSIGN" --store "$S" sign --key "$K.key" --all -r -y \
  --output-signature "$D/sigs/sig" --output-certificate "$D/sigs/cert.pem"
ls "$D/sigs"
cat "$D/sigs/cert.pem"

step "Verify every image and every platform manifest of an index, offline, with the public key"
# Every tag in the store, each index followed by REPO@DIGEST of every manifest it lists.
show_to "$D/ls.json" "$AIRSIGN" --store "$S" ls --json
IMAGES=()
while read -r ref type; do
  IMAGES+=("$ref")
  if [ "$type" = application/vnd.oci.image.index.v1+json ]; then
    index=$("$AIRSIGN" --store "$S" inspect "$ref" </dev/null)
    mapfile -t -O "${#IMAGES[@]}" IMAGES < <("$JQ" -r --arg repo "${ref%:*}" '.manifests[] | $repo + "@" + .digest' <<<"$index")
  fi
done < <("$JQ" -r '.[] | select(.artifact | not) | "\(.reference) \(.mediaType)"' "$D/ls.json")
# stdout: the verified payloads; stderr: cosign's list of checks, once per image
if ! show_to "$D/verified.json" "$AIRSIGN" --store "$S" verify --key "$K.pub" "${IMAGES[@]}" 2> "$D/verify.log"; then
  cat "$D/verify.log" >&2
  false
fi
sed -n '2,5p' "$D/verify.log"
echo "  ... checked for ${#IMAGES[@]} images; each verified payload claims (identity @ digest):"
"$JQ" -r '.[] | "  " + .critical.identity."docker-reference" + " @ " + .critical.image."docker-manifest-digest"' "$D/verified.json"

step "List the store: every image signed, its .sig artifact (cosign's tag) beside it"
show "$AIRSIGN" --store "$S" ls

step "Check the store: every blob re-hashed, everything index.json reaches present"
show "$AIRSIGN" --store "$S" fsck

# Across the gap: $D/usb stands for the USB stick, $D/other for the other side's store.
USB=$D/usb
O=$D/other
step "Export every image with its signatures to the USB stick (one oci-archive tarball)"
mkdir -p "$USB"
show "$AIRSIGN" --store "$S" export --all --to "oci-archive:$USB/airgap.tar"
ls -l "$USB"

step "On the stick, in place (nothing unpacked): list the archive, then re-hash every blob in it"
show "$AIRSIGN" ls "oci-archive:$USB/airgap.tar"
show "$AIRSIGN" fsck "oci-archive:$USB/airgap.tar"

step "The other side: a second store, and import from the stick (every blob hashed on the way in)"
show "$AIRSIGN" --store "$O" store init
show "$AIRSIGN" --store "$O" import "oci-archive:$USB/airgap.tar"

step "The other side: verify every image and platform manifest with the public key alone"
if ! show_to "$D/verified-other.json" "$AIRSIGN" --store "$O" verify --key "$K.pub" "${IMAGES[@]}" 2> "$D/verify-other.log"; then
  cat "$D/verify-other.log" >&2
  false
fi
echo "  ${#IMAGES[@]} images checked, $("$JQ" length "$D/verified-other.json") signatures verified (as many as before the gap: $("$JQ" length "$D/verified.json"))"
[ "$("$JQ" length "$D/verified-other.json")" = "$("$JQ" length "$D/verified.json")" ]

step "The other side: list the store, then check it"
show "$AIRSIGN" --store "$O" ls
show "$AIRSIGN" --store "$O" fsck

printf '\n==> done%s\n' "$([ -n "${DEMO_DIR:-}" ] && echo ": store in $S, carried to $O by $USB/airgap.tar, keys $K.key/$K.pub")"
