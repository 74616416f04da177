# Sourced by the vendor_*.sh scripts: a scratch folder removed on exit and `fetch NAME VERSION`, which unpacks
# the exact published npm tarball into $TMP/NAME (`npm pack`: no dependency resolution, no install scripts run).
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fetch() {  # fetch NAME VERSION → unpacked in $TMP/NAME
  local name=$1 version=$2
  (cd "$TMP" && npm pack --silent "$name@$version" > /dev/null)
  mkdir -p "$TMP/$name"
  tar -xzf "$TMP/$name-$version.tgz" -C "$TMP/$name" --strip-components=1
}
