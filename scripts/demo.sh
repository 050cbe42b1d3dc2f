#!/usr/bin/env bash
# demo.sh — airsign end to end on the committed fixtures, offline:
# a store, imports, a listing, a cosign key pair, the payloads cosign would sign,
# every image signed and verified, the .sig artifacts listed, and a full fsck; then
# the signed images carried across a simulated air gap: exported to an oci-archive
# on "the USB stick", checked there in place, imported into a second store ("the
# other side") and verified, listed and fsck'd there; finally back online: a
# loopback registry started here, the carried store synced to it, a second sync that
# sends nothing, and every image verified in the registry by the real cosign and by
# skopeo's sigstore policy.
# `make demo` builds the release binary, installs the tools and runs this.
#   AIRSIGN   the binary (default target/release/airsign)
#   DEMO_DIR  work here and keep the result (default: a temp dir, removed at the end)
#   AIRSIGN_TEST_JQ  jq, to read `ls --json` and the verified payloads (default: jq)
#   AIRSIGN_TEST_REGISTRY, AIRSIGN_TEST_CURL  docker-registry and curl for the online
#             part (default: from PATH; without docker-registry that part is skipped)
#   AIRSIGN_TEST_COSIGN, AIRSIGN_TEST_SKOPEO, AIRSIGN_TEST_REGISTRIES_D  cosign 2.5 and
#             skopeo 1.18 (+ a registries.d with use-sigstore-attachments) to verify
#             in the registry; each check is skipped, with a note, when its tool is absent
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

# The registry of the online part, once started: stopped by its own pid on exit.
REG_PID=
KEEP=
if [ -n "${DEMO_DIR:-}" ]; then
  mkdir -p "$DEMO_DIR"
  D=$(cd "$DEMO_DIR" && pwd)
  KEEP=1
else
  D=$(mktemp -d -t airsign-demo.XXXXXX)
fi
cleanup() {
  if [ -n "$REG_PID" ]; then
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
  fi
  [ -n "$KEEP" ] || rm -rf "$D"
}
trap cleanup EXIT
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

# Back online: a loopback registry stands for the destination registry.
REGISTRY_BIN=${AIRSIGN_TEST_REGISTRY:-$(command -v docker-registry || true)}
CURL=${AIRSIGN_TEST_CURL:-curl}
PORT=

# start_registry DIR: Debian's docker-registry, plain HTTP on a free 127.0.0.1 port
# (PORT), storage in DIR/data; REG_PID is what the EXIT trap stops.
start_registry() {
  local dir=$1 port attempt
  mkdir -p "$dir"
  for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    # something answers there already: another port
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    cat > "$dir/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: '$dir/data'}}
http: {addr: '127.0.0.1:$port', secret: 'airsign-demo-$$'}
EOF
    "$REGISTRY_BIN" serve "$dir/config.yml" > "$dir/registry.log" 2>&1 < /dev/null &
    REG_PID=$!
    for _ in $(seq 200); do
      if [ "$("$CURL" -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)" = 200 ]; then
        PORT=$port
        return 0
      fi
      kill -0 "$REG_PID" 2>/dev/null || break
      sleep 0.1
    done
    # it died (port taken between the check and its bind) or never answered
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
    REG_PID=
  done
  echo "demo: could not start $REGISTRY_BIN on 127.0.0.1 (attempt $attempt):" >&2
  cat "$dir/registry.log" >&2
  return 1
}

# sync_summary REPORT: one line per image of a `sync --json` report, then the requests.
sync_summary() {
  "$JQ" -r '.images[] | "  \(.status)\t\(.destination)\t\(.blobs.uploaded) blob(s) uploaded, \(.blobs.mounted) mounted, \(.blobs.present) present, \(.blobs.bytes_sent) bytes; signatures: \([.artifacts[] | select(.kind == "sig") | .status] | join(" "))"' "$1"
  "$JQ" -r '"  requests: \(.requests.total) (" + ([.requests | to_entries[] | select(.key != "total" and .key != "bytes_sent" and .value > 0) | "\(.value) \(.key | ascii_upcase)"] | join(", ")) + "), \(.requests.bytes_sent) bytes sent; failed images: \(.failed); signatures missing at the destination: \(.missing_signatures | length)"' "$1"
}

if [ -z "$REGISTRY_BIN" ]; then
  printf '\n(no docker-registry: the online part - sync to a registry and verification there - is skipped; `make demo` installs it)\n'
else
  step "Back online: start a registry on loopback (Debian's docker-registry, plain HTTP)"
  start_registry "$D/registry"
  DEST=127.0.0.1:$PORT/demo
  echo "registry at http://127.0.0.1:$PORT (pid $REG_PID, storage $D/registry/data); images go to $DEST/..."

  step "Sync the carried store to it: blobs, platform manifests, indexes, then every .sig tag"
  if ! show_to "$D/sync.json" "$AIRSIGN" --store "$O" sync --all --to "$DEST" --json 2> "$D/sync.log"; then
    cat "$D/sync.log" >&2
    false
  fi
  sync_summary "$D/sync.json"
  [ "$("$JQ" '.failed == 0 and (.missing_signatures | length) == 0 and all(.images[]; .status == "pushed")' "$D/sync.json")" = true ]
  # The signatures name registry.example.com/..., the images now live at 127.0.0.1:
  # sync says so (a policy that wants the registry's own name would refuse them).
  warnings=$(grep -c 'claims identity' "$D/sync.log" || true)
  if [ "$warnings" -gt 0 ]; then
    echo "  $warnings identity warning(s) on stderr, e.g.:"
    grep -m1 'claims identity' "$D/sync.log" | sed 's/^/    /'
    echo "  (signed for registry.example.com; sign with --identity, or let the policy name the signed repository, as below)"
  fi

  step "Sync again: everything is there, so only HEADs go out (one per tag) and no byte is sent"
  if ! show_to "$D/sync-again.json" "$AIRSIGN" --store "$O" sync --all --to "$DEST" --json 2> "$D/sync-again.log"; then
    cat "$D/sync-again.log" >&2
    false
  fi
  sync_summary "$D/sync-again.json"
  [ "$("$JQ" '.failed == 0 and all(.images[]; .status == "present") and .requests.put == 0 and .requests.post == 0 and .requests.patch == 0 and .requests.bytes_sent == 0' "$D/sync-again.json")" = true ]
  tags=$("$JQ" '[.images[] | .destination, ((.destination | sub(":[^:/]*$"; "")) + ":" + .artifacts[].tag)] | unique | length' "$D/sync-again.json")
  heads=$("$JQ" .requests.head "$D/sync-again.json")
  echo "  $heads HEADs for $tags distinct tags (image tags and .sig tags)"
  [ "$heads" -le "$tags" ]

  COSIGN=${AIRSIGN_TEST_COSIGN:-$(command -v cosign || true)}
  step "In the registry: the real cosign verifies every image and platform manifest with the public key"
  if [ -z "$COSIGN" ]; then
    echo "(cosign is not installed: skipped; \`make demo\` installs cosign 2.5)"
  else
    mkdir -p "$D/cosign-home"
    first=1
    for ref in "${IMAGES[@]}"; do
      dest=$DEST/${ref#registry.example.com/}
      cmd=("$COSIGN" verify --key "$K.pub" --insecure-ignore-tlog=true --allow-http-registry "$dest")
      if [ -n "$first" ]; then
        printf '$ %s\n' "${cmd[*]}" | sed "s|$COSIGN|cosign|; s|$D/|\$DEMO/|g"
        first=
      fi
      if ! HOME=$D/cosign-home "${cmd[@]}" > "$D/cosign-verify.json" 2> "$D/cosign-verify.log"; then
        cat "$D/cosign-verify.log" >&2
        false
      fi
      echo "  verified: $dest ($("$JQ" length "$D/cosign-verify.json") signature(s))"
    done
  fi

  SKOPEO=${AIRSIGN_TEST_SKOPEO:-}
  step "In the registry: skopeo's sigstoreSigned policy admits every image (each platform of an index too)"
  if [ -z "$SKOPEO" ]; then
    echo "(no sigstore-capable skopeo (AIRSIGN_TEST_SKOPEO, skopeo >= 1.13): skipped; \`make demo\` installs skopeo 1.18)"
  else
    # Cosign-style signatures are found as .sig tags only with use-sigstore-attachments.
    mkdir -p "$D/registries.d"
    printf 'default-docker:\n  use-sigstore-attachments: true\n' > "$D/registries.d/default.yaml"
    # One scope per destination repository: signed by our key, for the repository it
    # was signed as (exactRepository: the mirror's name is not the signed one).
    "$JQ" --arg dest "$DEST" --arg key "$K.pub" '
      { default: [{type: "reject"}],
        transports: { docker: (
          [.[] | select(.artifact | not) | .reference | sub(":[^:/]*$"; "")] | unique
          | map({ key: ($dest + "/" + ltrimstr("registry.example.com/")),
                  value: [{type: "sigstoreSigned", keyPath: $key,
                           signedIdentity: {type: "exactRepository", dockerRepository: .}}] })
          | from_entries) } }' "$D/ls.json" > "$D/policy.json"
    "$JQ" -c '.transports.docker | to_entries[0] | {(.key): .value}' "$D/policy.json" | sed "s|$D/|\$DEMO/|g; s|^|  policy, e.g.: |"
    while read -r ref; do
      dest=$DEST/${ref#registry.example.com/}
      rm -rf "$D/skopeo-out"
      if ! "$SKOPEO" --policy "$D/policy.json" --registries.d "$D/registries.d" copy --all --remove-signatures \
           --quiet --src-tls-verify=false "docker://$dest" "oci:$D/skopeo-out:x" 2> "$D/skopeo.log"; then
        cat "$D/skopeo.log" >&2
        false
      fi
      echo "  admitted: $dest"
    done < <("$JQ" -r '.[] | select(.artifact | not) | .reference' "$D/ls.json")
    rm -rf "$D/skopeo-out"
    # And the check has teeth: with matchRepository (the signature must name the
    # registry's own repository) the same image is refused, as sync warned.
    dest=$DEST/demo/single:v1
    "$JQ" --arg key "$K.pub" '{default: [{type: "sigstoreSigned", keyPath: $key, signedIdentity: {type: "matchRepository"}}]}' \
      -n > "$D/policy-strict.json"
    if "$SKOPEO" --policy "$D/policy-strict.json" --registries.d "$D/registries.d" copy --remove-signatures \
         --quiet --src-tls-verify=false "docker://$dest" "dir:$D/skopeo-out" 2> "$D/skopeo.log"; then
      echo "demo: skopeo admitted $dest under matchRepository, though it is signed for registry.example.com" >&2
      false
    fi
    echo "  refused under matchRepository, as expected: $(sed -n 's/.*\(Signature for identity .* is not accepted\).*/\1/p' "$D/skopeo.log" | head -1 | tr -d '\\')"
    rm -rf "$D/skopeo-out"
  fi

  step "Online side again: pull every image back into a third store (with its .sig tags), then verify it offline"
  P=$D/pulled
  show "$AIRSIGN" --store "$P" store init
  # Pull by tag: an index brings its platform manifests and their .sig tags with it.
  PULLS=() CHECKS=()
  for ref in "${IMAGES[@]}"; do
    CHECKS+=("$DEST/${ref#registry.example.com/}")
    case $ref in *@*) ;; *) PULLS+=("$DEST/${ref#registry.example.com/}") ;; esac
  done
  if ! show_to "$D/pull.json" "$AIRSIGN" --store "$P" pull "${PULLS[@]}" --json 2> "$D/pull.log"; then
    cat "$D/pull.log" >&2
    false
  fi
  "$JQ" -r '.images[] | "  \(.status)\t\(.entry)\t\(.digest)\t\([.artifacts[] | .tag] | join(" "))"' "$D/pull.json"
  [ "$("$JQ" '.failed == 0' "$D/pull.json")" = true ]
  # every digest came back unchanged
  for ref in "${IMAGES[@]}"; do
    case $ref in *@*) continue ;; esac
    want=$("$JQ" -r --arg r "$ref" '.[] | select(.reference == $r) | .digest' "$D/ls.json")
    got=$("$JQ" -r --arg r "$DEST/${ref#registry.example.com/}" '.images[] | select(.reference == $r) | .digest' "$D/pull.json")
    [ "$want" = "$got" ] || { echo "demo: $ref came back as $got, not $want" >&2; false; }
  done
  echo "  every digest is the one signed offline"
  show "$AIRSIGN" --store "$P" verify --key "$K.pub" "${CHECKS[@]}" > /dev/null
  echo "  verified offline in the third store: ${#CHECKS[@]} image(s) and platform manifest(s)"
fi

printf '\n==> done%s\n' "$([ -n "${DEMO_DIR:-}" ] && echo ": store in $S, carried to $O by $USB/airgap.tar, keys $K.key/$K.pub${PORT:+, synced to $DEST (registry storage $D/registry/data)}")"
