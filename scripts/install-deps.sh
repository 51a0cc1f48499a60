#!/bin/sh
# Installs the Debian packages entroscope needs to build and test, if any are
# missing. Runs apt-get as root, or through sudo.
set -e
PKGS="build-essential pkg-config libpcre2-dev libcjson-dev libsqlite3-dev libutf8proc-dev libcurl4-openssl-dev libgsl-dev libmicrohttpd-dev libopenblas-openmp-dev clang libclang-rt-dev libomp-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
