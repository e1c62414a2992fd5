#!/bin/sh
# Installs what kvcert needs to build and test on Debian 12 (or Ubuntu).
# Idempotent: packages already present are left as they are.
# nvcc is not installed here; configure finds it if the machine has it.
set -eu
pkgs="build-essential autoconf automake libtool pkg-config check libcjson-dev libssl-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
