#!/bin/sh
# Installs the Debian packages entroscope needs to build and test, if any are
# missing. Runs apt-get as root, or through sudo.
set -e
PKGS="build-essential pkg-config libpcre2-dev libcjson-dev libsqlite3-dev libutf8proc-dev libcurl4-openssl-dev libgsl-dev libmicrohttpd-dev libopenblas-openmp-dev clang libclang-rt-dev libomp-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
# Optional: the official OpenAI Node.js client that tests/test_openai_client.c
# drives (pinned by tests/openai_client/package-lock.json). Without npm, or
# offline, that test skips with a message.
client="$(dirname "$0")/../tests/openai_client"
if command -v npm > /dev/null 2>&1 && [ ! -f "$client/node_modules/openai/package.json" ]; then
    npm ci --prefix "$client" --no-audit --no-fund > /dev/null 2>&1 ||
        echo "note: npm ci in tests/openai_client failed; the OpenAI client test will skip"
fi
exit 0
