#!/usr/bin/env bash
# Vendor Swagger UI and ReDoc for the API's /docs and /redoc into src/tidings/web/apidocs/.
#
# Why vendored: FastAPI's default pages load both from a CDN, and tidings must work offline. Kept apart from
# scripts/vendor_web.sh (the dashboard's libraries) so each script can replace its own folder whole.
# `npm pack` fetches the exact published tarballs (no dependency resolution, no install scripts run); only the
# browser bundles and the packages' licence files are kept (no source maps).
set -euo pipefail
cd "$(dirname "$0")/.."

SWAGGER_UI=5.35.0   # Apache-2.0 — swagger-ui-bundle.js + swagger-ui.css (self-contained browser bundle)
REDOC=2.5.4         # MIT — bundles/redoc.standalone.js (the 2.x line FastAPI's own /redoc page targets)

OUT=src/tidings/web/apidocs
# shellcheck source=scripts/npm_fetch.sh
source scripts/npm_fetch.sh

fetch swagger-ui-dist "$SWAGGER_UI"
fetch redoc "$REDOC"

rm -rf "$OUT"
mkdir -p "$OUT/swagger-ui" "$OUT/redoc"
cp "$TMP/swagger-ui-dist/swagger-ui-bundle.js" "$TMP/swagger-ui-dist/swagger-ui.css" \
   "$TMP/swagger-ui-dist/favicon-32x32.png" "$TMP/swagger-ui-dist/LICENSE" "$TMP/swagger-ui-dist/NOTICE" \
   "$OUT/swagger-ui/"
# The bundle's own notices for the libraries compiled into it.
cp "$TMP/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt" "$OUT/swagger-ui/"
cp "$TMP/redoc/bundles/redoc.standalone.js" "$TMP/redoc/bundles/redoc.standalone.js.LICENSE.txt" \
   "$TMP/redoc/LICENSE" "$OUT/redoc/"
# The bundles end with a sourceMappingURL comment; the maps are not shipped, so browsers would ask for a
# file that is not there (a 404 in every DevTools console). Drop the comment.
sed -i -e 's|^//# sourceMappingURL=.*$||' "$OUT/swagger-ui/swagger-ui-bundle.js" "$OUT/redoc/redoc.standalone.js"
sed -i -e 's|/\*# sourceMappingURL=.*\*/||' "$OUT/swagger-ui/swagger-ui.css"

cat > "$OUT/VERSIONS" <<VERSIONS
# Written by scripts/vendor_apidocs.sh; each directory holds the package's own LICENSE.
swagger-ui-dist $SWAGGER_UI Apache-2.0
redoc $REDOC MIT
VERSIONS
echo "vendored into $OUT:"
find "$OUT" -type f -printf '%8s  %p\n' | sort -k2
