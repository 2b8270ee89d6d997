#!/usr/bin/env bash
# Re-downloads the web UI's JavaScript libraries with npm and refreshes the copies under
# webui/vendor/ that the build embeds. npm ci installs exactly what package-lock.json pins and
# refuses a tarball whose sha512 differs from the lockfile's integrity field; vendor/SHA256SUMS
# then records the vendored files so that a change to them shows in review.
#   webui/vendor.sh          refresh vendor/ from the registry
#   webui/vendor.sh --check  download again and fail if vendor/ differs from what npm gives
# The build and CI never run this: they use the committed vendor/ files and need no npm.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-refresh}
command -v npm >/dev/null || { echo "vendor.sh: npm is needed (apt-get install npm)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)

# Each vendored file: its path inside node_modules, then its name under vendor/.
files=(
  "uplot/dist/uPlot.esm.js uPlot.esm.js"
  "uplot/dist/uPlot.min.css uPlot.min.css"
  "uplot/LICENSE uPlot.LICENSE"
)
out="$tmp/vendor"
mkdir -p "$out"
for f in "${files[@]}"; do
  read -r src dst <<<"$f"
  cp "$tmp/node_modules/$src" "$out/$dst"
done
(cd "$out" && sha256sum -- *.js *.css *.LICENSE >SHA256SUMS)

if [ "$mode" = --check ]; then
  if diff -r "$out" vendor; then
    echo "vendor.sh: vendor/ matches package-lock.json"
  else
    echo "vendor.sh: vendor/ differs from what package-lock.json pins (above)" >&2
    exit 1
  fi
else
  rm -rf vendor
  cp -r "$out" vendor
  echo "vendor.sh: vendor/ refreshed:"
  cat vendor/SHA256SUMS
fi
