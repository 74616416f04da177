#!/usr/bin/env bash
# Vendor the dashboard's JavaScript libraries and basemap into src/tidings/web/vendor/.
#
# Why vendored: the dashboard must work offline and `pip install tidings[server]` must not need npm or a
# CDN. The files this script writes are committed; run it again only to change a pinned version below.
# `npm pack` fetches the exact published tarballs (no dependency resolution, no install scripts run).
set -euo pipefail
cd "$(dirname "$0")/.."

D3=7.9.0               # ISC — dist/d3.min.js (UMD bundle: geo, zoom, brush, force, scale, shape, ...)
TOPOJSON_CLIENT=3.1.0  # ISC — dist/topojson-client.min.js (TopoJSON → GeoJSON)
WORLD_ATLAS=2.0.2      # ISC — countries-110m.json and countries-50m.json (Natural Earth, public domain)
SUPERCLUSTER=9.1.0     # ISC — dist/supercluster.min.js (UMD bundle, kdbush 4 inside): marker clustering
KDBUSH=4.1.0           # ISC — bundled in supercluster.min.js; only its LICENSE is copied

OUT=src/tidings/web/vendor
# shellcheck source=scripts/npm_fetch.sh
source scripts/npm_fetch.sh

fetch d3 "$D3"
fetch topojson-client "$TOPOJSON_CLIENT"
fetch world-atlas "$WORLD_ATLAS"
fetch supercluster "$SUPERCLUSTER"
fetch kdbush "$KDBUSH"

rm -rf "$OUT"
mkdir -p "$OUT/d3" "$OUT/topojson-client" "$OUT/world-atlas" "$OUT/supercluster"
cp "$TMP/d3/dist/d3.min.js" "$TMP/d3/LICENSE" "$OUT/d3/"
cp "$TMP/topojson-client/dist/topojson-client.min.js" "$TMP/topojson-client/LICENSE" "$OUT/topojson-client/"
cp "$TMP/world-atlas/countries-110m.json" "$TMP/world-atlas/countries-50m.json" "$TMP/world-atlas/LICENSE" \
   "$OUT/world-atlas/"
cp "$TMP/supercluster/dist/supercluster.min.js" "$TMP/supercluster/LICENSE" "$OUT/supercluster/"
cp "$TMP/kdbush/LICENSE" "$OUT/supercluster/LICENSE.kdbush"

cat > "$OUT/VERSIONS" <<VERSIONS
# Written by scripts/vendor_web.sh; each directory holds the package's own LICENSE.
d3 $D3 ISC
topojson-client $TOPOJSON_CLIENT ISC
world-atlas $WORLD_ATLAS ISC (data: Natural Earth, public domain)
supercluster $SUPERCLUSTER ISC (bundles kdbush $KDBUSH, ISC)
VERSIONS
echo "vendored into $OUT:"
find "$OUT" -type f -printf '%8s  %p\n' | sort -k2
