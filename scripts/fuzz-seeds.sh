#!/usr/bin/env bash
# fuzz-seeds.sh CORPUS_DIR — writes the fuzz targets' seed corpora (one directory per
# target) from fixtures/ and a few generated inputs, then adds the committed
# regression inputs of fuzz/seeds/<target>/. Idempotent: files are named by content.
# openssl, zstd and GNU tar add more seeds when present; none is required.
set -euo pipefail
OUT=${1:?usage: fuzz-seeds.sh CORPUS_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=$ROOT/fixtures
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# seed TARGET FILE: copies FILE into TARGET's corpus under its sha1 (as libFuzzer does).
seed() {
  local dir=$OUT/$1
  mkdir -p "$dir"
  cp "$2" "$dir/$(sha1sum < "$2" | cut -c1-40)"
}
# seed_text TARGET STRING
seed_text() {
  printf '%s' "$2" > "$TMP/text"
  seed "$1" "$TMP/text"
}

# bundle: cosign 3.1.1's blob bundle, and (when the conformance suite sits beside the
# repository) sigstore's conformance bundles, good and bad.
seed bundle "$FIX/bundles/blob.sigstore.json"
CONF=${AIRSIGN_TEST_CONFORMANCE:-$(dirname "$0")/../../shared/conformance}
if [ -d "$CONF/bundle-verify" ]; then
  for f in "$CONF"/bundle-verify/*/bundle.sigstore.json; do seed bundle "$f"; done
fi

# tsa: the RFC 3161 timestamps of the conformance bundles (responses and tokens,
# good and bad), and one made by openssl's own authority when openssl is here.
if [ -d "$CONF/bundle-verify" ]; then
  for f in "$CONF"/bundle-verify/*/bundle.sigstore.json; do
    python3 - "$f" "$TMP/ts" <<'PY' || true
import base64, json, sys
b = json.load(open(sys.argv[1]))
ts = b.get("verificationMaterial", {}).get("timestampVerificationData", {}) or {}
for i, t in enumerate(ts.get("rfc3161Timestamps", [])):
    open(f"{sys.argv[2]}-{i}", "wb").write(base64.b64decode(t["signedTimestamp"].replace("\n", "")))
PY
    for t in "$TMP"/ts-*; do [ -f "$t" ] && seed tsa "$t" && rm -f "$t"; done
  done
fi
if command -v openssl >/dev/null; then
  (
    cd "$TMP"
    printf '[tsa]\ndefault_tsa=t\n[t]\nserial=./serial\nsigner_digest=sha256\ndefault_policy=1.2.3.4.1\nother_policies=1.2.3.4.2\ndigests=sha256\ness_cert_id_alg=sha256\n[leaf]\nextendedKeyUsage=critical,timeStamping\n' > ts.cnf
    echo 01 > serial
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tsa.key \
      -out tsa.pem -subj /CN=fuzz-tsa -days 3650 -addext extendedKeyUsage=critical,timeStamping 2>/dev/null
    echo signature > data
    openssl ts -query -data data -sha256 -cert -out req.tsq 2>/dev/null
    openssl ts -reply -config ts.cnf -queryfile req.tsq -signer tsa.pem -inkey tsa.key -out resp.tsr 2>/dev/null
  ) && seed tsa "$TMP/resp.tsr" || echo "fuzz-seeds: no openssl timestamp seed" >&2
fi

# tar: the fixture archives, and layouts re-packed in other tar dialects.
for f in "$FIX"/*.tar; do seed tar "$f"; done
if tar --version 2>/dev/null | grep -q GNU; then
  for fmt in ustar pax gnu; do
    tar -C "$FIX/single" --format=$fmt --sort=name --owner=0 --group=0 --mtime=@0 \
      -cf "$TMP/single-$fmt.tar" .
    seed tar "$TMP/single-$fmt.tar"
  done
  # a GNU long name and a PAX path (names > 100 bytes)
  mkdir -p "$TMP/long/blobs/sha256"
  cp -r "$FIX/single/." "$TMP/long/"
  long=$(printf 'x%.0s' {1..120})
  echo hi > "$TMP/long/$long"
  for fmt in gnu pax; do
    tar -C "$TMP/long" --format=$fmt --sort=name --owner=0 --group=0 --mtime=@0 -cf "$TMP/long-$fmt.tar" .
    seed tar "$TMP/long-$fmt.tar"
  done
fi
if command -v zstd >/dev/null; then
  zstd -q -19 -c "$FIX/single.oci.tar" > "$TMP/single.oci.tar.zst"
  seed tar "$TMP/single.oci.tar.zst"
fi

# manifest: one selector byte (0 OCI manifest, 1 OCI index, 2 docker manifest,
# 3 docker list, 4 a config), then every JSON document of the fixture layouts.
selector() {
  case $(grep -o '"mediaType": *"[^"]*"' "$1" | head -1 | sed 's/.*"\([^"]*\)"$/\1/') in
    application/vnd.oci.image.manifest.v1+json) echo 0 ;;
    application/vnd.oci.image.index.v1+json) echo 1 ;;
    application/vnd.docker.distribution.manifest.v2+json) echo 2 ;;
    application/vnd.docker.distribution.manifest.list.v2+json) echo 3 ;;
    *) echo 4 ;;
  esac
}
for f in "$FIX"/*/index.json "$FIX"/*/blobs/sha256/*; do
  [[ $(head -c1 "$f") == "{" ]] || continue
  [[ $(stat -c %s "$f") -le 65536 ]] || continue
  sel=$(selector "$f")
  { printf "\\x0$sel"; cat "$f"; } > "$TMP/doc"
  seed manifest "$TMP/doc"
done

# reference: references, locations and digests.
D=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
for r in ubuntu user/demo docker.io/library/ubuntu:22.04 localhost:5000/app:v1 \
  "[::1]:5000/app:v1" "registry.example.com/team/app:v1@$D" "ubuntu@$D" "$D" \
  "sha512:$(printf 'ab%.0s' {1..64})" oci:/tmp/layout oci:dir:registry.example.com:5000/app:v1 \
  oci-archive:x.tar:v1 docker-archive:save.tar "docker-archive:save.tar:app:v1" \
  "oci:l:$D" docker://x/y a__b/c--d.e:_t-1.x; do
  seed_text reference "$r"
done

# auth: WWW-Authenticate values as registries send them.
for h in \
  'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"' \
  'Basic realm="Registry Realm"' \
  'Basic realm="r", Bearer realm="https://t/x",scope="repository:a:pull,push repository:b:pull"' \
  'Bearer realm="https://t/x\"y",error="invalid_token"' \
  'Digest realm="x", nonce="y", Bearer realm=https://t/token' \
  'registry:catalog:* repository:dst/app:pull,push' \
  'Sun, 06 Nov 1994 08:49:37 GMT' '120'; do
  seed_text auth "$h"
done

# keys: cosign's encrypted keys and public keys, and what openssl writes.
for f in "$FIX"/keys/*/*.key "$FIX"/keys/*/*.pub; do seed keys "$f"; done
if command -v openssl >/dev/null; then
  o() { openssl "$@" 2>/dev/null; }
  o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/p256.pem" && {
    seed keys "$TMP/p256.pem"
    o ec -in "$TMP/p256.pem" -out "$TMP/sec1.pem" && seed keys "$TMP/sec1.pem"
    o pkey -in "$TMP/p256.pem" -pubout -out "$TMP/pub.pem" && seed keys "$TMP/pub.pem"
    o pkcs8 -topk8 -v2 aes-256-cbc -iter 1000 -passout pass:x -in "$TMP/p256.pem" \
      -out "$TMP/pbes2.pem" && seed keys "$TMP/pbes2.pem"
    o pkcs8 -topk8 -scrypt -scrypt_N 1024 -passout pass:x -in "$TMP/p256.pem" \
      -out "$TMP/scrypt.pem" && seed keys "$TMP/scrypt.pem"
  } || true
  o genpkey -algorithm ED25519 -out "$TMP/ed.pem" && seed keys "$TMP/ed.pem" || true
fi

# The committed inputs: earlier crashes and hand-made edge cases.
for d in "$ROOT"/fuzz/seeds/*/; do
  [[ -d $d ]] || continue
  t=$(basename "$d")
  for f in "$d"*; do [[ -f $f ]] && seed "$t" "$f"; done
done
for d in "$OUT"/*/; do echo "seeds: $(basename "$d"): $(ls "$d" | wc -l) inputs"; done
