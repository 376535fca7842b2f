#!/usr/bin/env bash
# Vendor the official socket.io-client browser build into widget/static/vendor/: download the
# pinned tarball from the npm registry, check it against the registry's sha512 integrity,
# copy dist/socket.io.min.js and the licence. The result is committed (as handoff's ECharts),
# so neither the set-up nor CI needs the network; rerun this only to change the version
# (update VERSION and INTEGRITY from `npm view socket.io-client@VERSION dist.integrity`).
set -euo pipefail

VERSION=4.8.1
INTEGRITY=sha512-hJVXfu3E28NmzGk8o1sHhN3om52tRvwYeidbj7xKy2eIIse5IoKX3USlS6Tqt3BHAtflLIkCQBkzVrEEfWUyYQ==
REGISTRY=${NPM_REGISTRY:-https://registry.npmjs.org}

cd "$(dirname "$0")/.."
OUT=widget/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tarball="$work/socket.io-client-$VERSION.tgz"
curl -fsSL --max-time 120 -o "$tarball" \
  "$REGISTRY/socket.io-client/-/socket.io-client-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$INTEGRITY" ]]; then
  echo "socket.io-client $VERSION: integrity mismatch (got $actual)" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/socket.io.min.js package/LICENSE
mkdir -p "$OUT"
cp "$work/package/dist/socket.io.min.js" "$OUT/socket.io.min.js"
cp "$work/package/LICENSE" "$OUT/socket.io.LICENSE"
{
  echo "socket.io-client $VERSION (MIT), from $REGISTRY, tarball $INTEGRITY"
  echo "sha256 of socket.io.min.js: $(sha256sum "$OUT/socket.io.min.js" | cut -d' ' -f1)"
} > "$OUT/socket.io.VERSION"
echo "vendored socket.io-client $VERSION into $OUT"
