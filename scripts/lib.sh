# Shared by scripts/run and scripts/test: install what is missing, configure and build.
# shellcheck shell=bash

SLUICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLUICE_ROOT

# Debian packages needed to build, test and run. Installed only when one is missing, so a second
# run does not touch apt at all.
SLUICE_PACKAGES=(
    g++ cmake make pkg-config ccache git
    libasio-dev node-llhttp
    libgtest-dev libgmock-dev libbenchmark-dev libhiredis-dev
    redis-server redis-tools
    shellcheck docker-compose
)

sluice_install_packages() {
    local missing=()
    local pkg
    for pkg in "${SLUICE_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    echo "sluice: installing ${missing[*]}" >&2
    local sudo=()
    if ((EUID != 0)); then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# sluice_build <build-dir> <build-type> [extra cmake args...]
sluice_build() {
    local dir="$1" type="$2"
    shift 2
    local jobs
    jobs="$(nproc 2>/dev/null || echo 2)"
    cmake -S "$SLUICE_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
}
