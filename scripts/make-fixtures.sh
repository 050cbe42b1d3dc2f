#!/usr/bin/env bash
# make-fixtures.sh OUTDIR — builds airsign's test fixtures: small but real OCI images.
#
#   single/            hand-built layout, tag v1: one linux/amd64 image
#   multi/             hand-built layout, tag v1: image index -> linux/amd64 + linux/arm64/v8
#   repos/             hand-built layout with full references as ref names, several
#                      repositories sharing blobs; app:v2's manifest has awkward bytes
#   single.oci.tar     oci-archive of single/
#   umoci/             written by umoci (NOT deterministic: umoci stamps the time)
#   skopeo/            written by skopeo copy --all from multi/ (index.json in skopeo's style)
#   single.docker.tar  written by skopeo copy to docker-archive
#   README.md          generated: every fixture with its references and top digests
#
# The hand-built ones are byte-for-byte deterministic (sorted ustar with fixed
# mtimes/owners, gzip -n, compact jq output without newline, fixed "created"), so
# tests/fixtures.rs rebuilds them and compares bytes. Needs jq, GNU tar, gzip,
# sha256sum, umoci and Debian 13's skopeo ($SKOPEO or $AIRSIGN_TEST_SKOPEO).
set -euo pipefail
OUT=${1:?usage: make-fixtures.sh OUTDIR}
SKOPEO=${SKOPEO:-${AIRSIGN_TEST_SKOPEO:-skopeo}}
UMOCI=${UMOCI:-${AIRSIGN_TEST_UMOCI:-umoci}}
# File and directory modes end up in tar headers: pin them.
umask 022
export LC_ALL=C TZ=UTC

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "${OUT:?}"/{single,multi,repos,umoci,skopeo,single.oci.tar,single.docker.tar,.work}
WORK="$OUT/.work"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json
MT_CONFIG=application/vnd.oci.image.config.v1+json
MT_LAYER=application/vnd.oci.image.layer.v1.tar+gzip
REF=org.opencontainers.image.ref.name
TAR=(tar --format=ustar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner)

# new_layout DIR: an empty OCI layout
new_layout() {
  mkdir -p "$1/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$1/oci-layout"
}

# put_blob LAYOUT FILE: stores FILE as a blob; prints "sha256:<hex> <size>"
put_blob() {
  local hex size
  hex=$(sha256sum "$2" | cut -d' ' -f1)
  size=$(stat -c %s "$2")
  cp "$2" "$1/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# make_layer LAYOUT ARCH NAME: a gzip tar layer with a few files (NAME goes into
# the content); prints "<blob digest> <blob size> <diff_id>"
make_layer() {
  local L=$1 arch=$2 name=$3 root="$WORK/rootfs-$2-$3"
  rm -rf "$root"
  mkdir -p "$root/etc" "$root/usr/local/bin" "$root/srv/data"
  printf 'hello from %s (%s)\n' "$arch" "$name" > "$root/etc/hello.txt"
  printf '#!/bin/sh\necho "hi from %s"\n' "$arch" > "$root/usr/local/bin/hello"
  head -c 4096 /dev/zero | tr '\0' 'x' > "$root/srv/data/blob.bin"
  chmod 0755 "$root/usr/local/bin/hello"
  chmod 0644 "$root/etc/hello.txt" "$root/srv/data/blob.bin"
  chmod 0755 "$root/etc" "$root/usr" "$root/usr/local" "$root/usr/local/bin" "$root/srv" "$root/srv/data"
  "${TAR[@]}" -C "$root" -cf "$WORK/layer.tar" etc usr srv
  local diff_id
  diff_id="sha256:$(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)"
  gzip -n -9 -c "$WORK/layer.tar" > "$WORK/layer.tar.gz"
  echo "$(put_blob "$L" "$WORK/layer.tar.gz") $diff_id"
}

# make_config LAYOUT ARCH VARIANT DIFF_ID CMD LABEL: prints "<digest> <size>"
# (jq 1.6 reserves $label and $as as keywords: not usable as variable names)
make_config() {
  jq -cjn --arg arch "$2" --arg variant "$3" --arg diff "$4" --arg cmd "$5" --arg fx "$6" '{
      created: "1970-01-01T00:00:00Z", architecture: $arch, os: "linux",
      config: {Env: ["PATH=/usr/local/bin:/usr/bin:/bin"], Cmd: [$cmd],
               Labels: {"org.example.fixture": $fx}},
      rootfs: {type: "layers", diff_ids: [$diff]},
      history: [{created: "1970-01-01T00:00:00Z", created_by: "make-fixtures.sh"}]
    } + (if $variant != "" then {variant: $variant} else {} end)' > "$WORK/config.json"
  put_blob "$1" "$WORK/config.json"
}

# make_manifest LAYOUT CONFIG_DIGEST CONFIG_SIZE LAYER_DIGEST LAYER_SIZE: prints "<digest> <size>"
make_manifest() {
  jq -cjn --arg cd "$2" --argjson cs "$3" --arg ld "$4" --argjson ls "$5" \
     --arg mtm "$MT_MANIFEST" --arg mtc "$MT_CONFIG" --arg mtl "$MT_LAYER" '{
      schemaVersion: 2, mediaType: $mtm,
      config: {mediaType: $mtc, digest: $cd, size: $cs},
      layers: [{mediaType: $mtl, digest: $ld, size: $ls}]
    }' > "$WORK/manifest.json"
  put_blob "$1" "$WORK/manifest.json"
}

# make_image LAYOUT ARCH VARIANT NAME: layer + config + manifest; prints "<digest> <size>"
make_image() {
  local ld ls diff cd cs
  read -r ld ls diff < <(make_layer "$1" "$2" "$4")
  read -r cd cs < <(make_config "$1" "$2" "$3" "$diff" /usr/local/bin/hello oracles)
  make_manifest "$1" "$cd" "$cs" "$ld" "$ls"
}

# make_index LAYOUT AMD_DIGEST AMD_SIZE ARM_DIGEST ARM_SIZE: prints "<digest> <size>"
make_index() {
  jq -cjn --arg ad "$2" --argjson asz "$3" --arg rd "$4" --argjson rsz "$5" \
     --arg mtm "$MT_MANIFEST" --arg mti "$MT_INDEX" '{
      schemaVersion: 2, mediaType: $mti, manifests: [
        {mediaType: $mtm, digest: $ad, size: $asz, platform: {architecture: "amd64", os: "linux"}},
        {mediaType: $mtm, digest: $rd, size: $rsz, platform: {architecture: "arm64", os: "linux", variant: "v8"}}
      ]}' > "$WORK/index.json"
  put_blob "$1" "$WORK/index.json"
}

# desc MEDIATYPE DIGEST SIZE REFNAME [PLATFORM_JSON]: an index.json descriptor
desc() {
  jq -cn --arg mt "$1" --arg d "$2" --argjson s "$3" --arg ref "$4" --argjson p "${5:-null}" --arg k "$REF" \
    '{mediaType: $mt, digest: $d, size: $s}
     + (if $p != null then {platform: $p} else {} end)
     + {annotations: {($k): $ref}}'
}

# write_index LAYOUT DESCRIPTOR...: the layout's index.json
write_index() {
  local L=$1
  shift
  printf '%s\n' "$@" | jq -cjs --arg mti "$MT_INDEX" '{schemaVersion: 2, mediaType: $mti, manifests: .}' > "$L/index.json"
}

AMD64='{"architecture":"amd64","os":"linux"}'

# ---- single/: one linux/amd64 image, tag v1 ----------------------------------
# (same recipe as the oracle samples, so the digests match theirs)
new_layout "$OUT/single"
read -r single_d single_s < <(make_image "$OUT/single" amd64 "" single)
write_index "$OUT/single" "$(desc "$MT_MANIFEST" "$single_d" "$single_s" v1 "$AMD64")"

# ---- multi/: image index amd64 + arm64/v8, tag v1 -------------------------------
new_layout "$OUT/multi"
read -r amd_d amd_s < <(make_image "$OUT/multi" amd64 "" multi)
read -r arm_d arm_s < <(make_image "$OUT/multi" arm64 v8 multi)
read -r multi_d multi_s < <(make_index "$OUT/multi" "$amd_d" "$amd_s" "$arm_d" "$arm_s")
write_index "$OUT/multi" "$(desc "$MT_INDEX" "$multi_d" "$multi_s" v1)"

# ---- repos/: several repositories in one layout, full references, shared blobs ---
#   team/app:v1        = single's manifest
#   team/app:v2        = same layer, another config; its manifest has awkward bytes
#   team/app:latest    = same digest as v2 (two names, one image)
#   team/tool:1.0      = an index of single's manifest (amd64) and multi's arm64 one
R=registry.example.com/team
new_layout "$OUT/repos"
read -r app1_d app1_s < <(make_image "$OUT/repos" amd64 "" single)
read -r rarm_d rarm_s < <(make_image "$OUT/repos" arm64 v8 multi)
read -r ld ls diff < <(make_layer "$OUT/repos" amd64 single)
read -r cd cs < <(make_config "$OUT/repos" amd64 "" "$diff" /usr/local/bin/app repos)
# Awkward but valid: keys out of the usual order, two-space indent, \u escapes and an
# escaped slash, an annotation, a trailing newline. Re-serialising it changes the
# bytes (and so the digest): only a tool that keeps raw bytes keeps this digest.
cat > "$WORK/awkward.json" <<EOF
{
  "layers": [
    {
      "size": $ls,
      "digest": "$ld",
      "mediaType": "$MT_LAYER"
    }
  ],
  "annotations": {
    "org.opencontainers.image.description": "caf\u00e9 \u2014 keys out of order, indented, escaped \/ and unicode",
    "org.opencontainers.image.created": "1970-01-01T00:00:00Z"
  },
  "config": {"mediaType": "$MT_CONFIG", "size": $cs, "digest": "$cd"},
  "mediaType": "$MT_MANIFEST",
  "schemaVersion": 2
}
EOF
read -r app2_d app2_s < <(put_blob "$OUT/repos" "$WORK/awkward.json")
read -r tool_d tool_s < <(make_index "$OUT/repos" "$app1_d" "$app1_s" "$rarm_d" "$rarm_s")
write_index "$OUT/repos" \
  "$(desc "$MT_MANIFEST" "$app1_d" "$app1_s" "$R/app:v1" "$AMD64")" \
  "$(desc "$MT_MANIFEST" "$app2_d" "$app2_s" "$R/app:v2" "$AMD64")" \
  "$(desc "$MT_MANIFEST" "$app2_d" "$app2_s" "$R/app:latest" "$AMD64")" \
  "$(desc "$MT_INDEX" "$tool_d" "$tool_s" "$R/tool:1.0")"

# ---- single.oci.tar: oci-archive = tar of the layout -----------------------------
"${TAR[@]}" -C "$OUT/single" -cf "$OUT/single.oci.tar" oci-layout index.json blobs

# ---- umoci/: written by umoci (not deterministic) ------------------------------------
mkdir -p "$WORK/umoci-src"
printf 'hello from umoci\n' > "$WORK/umoci-src/hello.txt"
printf '#!/bin/sh\necho hi\n' > "$WORK/umoci-src/run.sh"
chmod 0755 "$WORK/umoci-src/run.sh"
"$UMOCI" init --layout "$OUT/umoci"
"$UMOCI" new --image "$OUT/umoci:v1"
"$UMOCI" insert --rootless --image "$OUT/umoci:v1" "$WORK/umoci-src/hello.txt" /etc/hello.txt
"$UMOCI" insert --rootless --image "$OUT/umoci:v1" "$WORK/umoci-src/run.sh" /usr/local/bin/run.sh
"$UMOCI" config --image "$OUT/umoci:v1" --os linux --architecture amd64 --config.cmd /usr/local/bin/run.sh
"$UMOCI" gc --layout "$OUT/umoci" # umoci keeps every intermediate manifest until gc

# ---- skopeo/ and single.docker.tar: written by skopeo ------------------------------
# --insecure-policy: a fresh machine has no /etc/containers/policy.json
"$SKOPEO" --insecure-policy copy -q --all "oci:$OUT/multi:v1" "oci:$OUT/skopeo:v1"
"$SKOPEO" --insecure-policy copy -q "oci:$OUT/single:v1" \
  "docker-archive:$OUT/single.docker.tar:registry.example.com/demo/single:v1"

# ---- check with skopeo and write README.md ----------------------------------------------
# raw_digest IMAGE: sha256 of the manifest bytes skopeo reads for IMAGE
raw_digest() { echo "sha256:$("$SKOPEO" inspect --raw "$1" | sha256sum | cut -d' ' -f1)"; }
# row FIXTURE REF DIGEST KIND DETERMINISTIC: one table row, after checking skopeo agrees
ROWS=()
row() {
  local img got
  case $1 in
    *.oci.tar) img="oci-archive:$OUT/$1:$2" ;;
    *.docker.tar) img="docker-archive:$OUT/$1:$2" ;;
    *) img="oci:$OUT/${1%/}:$2" ;;
  esac
  got=$(raw_digest "$img")
  if [ "$3" != - ] && [ "$got" != "$3" ]; then
    echo "make-fixtures: skopeo reads $got for $img, expected $3" >&2
    exit 1
  fi
  ROWS+=("| \`$1\` | \`$2\` | \`$got\` | $4 | $5 |")
}
umoci_d=$(jq -r '.manifests[0].digest' "$OUT/umoci/index.json")
skopeo_d=$(jq -r '.manifests[0].digest' "$OUT/skopeo/index.json")
row single/ v1 "$single_d" "image manifest, linux/amd64" yes
row multi/ v1 "$multi_d" "image index: amd64 \`${amd_d:7:12}…\`, arm64/v8 \`${arm_d:7:12}…\`" yes
row repos/ "$R/app:v1" "$app1_d" "image manifest (= single:v1)" yes
row repos/ "$R/app:v2" "$app2_d" "image manifest, **awkward bytes**" yes
row repos/ "$R/app:latest" "$app2_d" "same digest as app:v2" yes
row repos/ "$R/tool:1.0" "$tool_d" "image index: amd64 = app:v1, arm64/v8 = multi's" yes
row single.oci.tar v1 "$single_d" "oci-archive of single/" yes
row umoci/ v1 "$umoci_d" "image manifest by umoci (no mediaType in it or in index.json)" no
row skopeo/ v1 "$skopeo_d" "multi:v1 copied by skopeo (index.json in skopeo's style)" "no (skopeo's)"
row single.docker.tar registry.example.com/demo/single:v1 - "docker-archive; digest of the docker manifest skopeo builds" "no (skopeo's)"
[ "$skopeo_d" = "$multi_d" ] || { echo "make-fixtures: skopeo changed multi's digest" >&2; exit 1; }

{
  cat <<'EOF'
# Test fixtures

Generated by `scripts/make-fixtures.sh fixtures` (`make fixtures`); do not edit by hand
(this file is generated too). Small, real OCI images, built without docker.

| fixture | reference | top digest | what | deterministic |
| --- | --- | --- | --- | --- |
EOF
  printf '%s\n' "${ROWS[@]}"
  cat <<'EOF'

* **Deterministic** fixtures are hand-built (jq, GNU tar `--format=ustar --sort=name
  --mtime=@0 --owner=0 --group=0 --numeric-owner`, `gzip -n -9`, compact JSON without a
  trailing newline, `created` 1970-01-01, umask 022): `tests/fixtures.rs` rebuilds them and
  checks every file byte for byte. `single/` and `multi/` use the same recipe as the oracle
  samples, so their digests are the ones in the oracle notes.
* `umoci/` (umoci 0.4.7 writes the current time into its config) changes on every
  rebuild; `skopeo/` and `single.docker.tar` are what the pinned skopeo (Debian 13, 1.18)
  writes: reproducible with that version, but an update of skopeo may change them, so the
  test checks these with skopeo and jq instead of byte for byte.
* **Awkward bytes**: `registry.example.com/team/app:v2` in `repos/` is a valid image
  manifest written with keys out of the usual order, two-space indentation, `\u` escapes,
  an escaped `\/`, an annotation and a trailing newline. Any tool that parses and
  re-serialises it changes its digest; a correct one copies the bytes as they are.
* `repos/` carries full references in `org.opencontainers.image.ref.name`
  (`registry.example.com/team/app:v1`, …); the other layouts carry a bare tag (`v1`).
  All of `repos/` shares blobs: app:v1, app:v2 and tool:1.0's amd64 entry use one layer.
* `skopeo/`: index.json as skopeo writes it (no top-level `mediaType`, no `platform` on
  the descriptor); the blobs are multi's, unchanged. `umoci/`: manifest and index.json
  without `mediaType`.
* `keys/` is not built here.

Check one: `skopeo inspect --raw oci:fixtures/repos:registry.example.com/team/app:v2 | sha256sum`.
EOF
} > "$OUT/README.md"
echo "fixtures written to $OUT" >&2
