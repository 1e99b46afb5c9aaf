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
    # core/rules_file.cpp reads the YAML rules file (linked statically: see core/CMakeLists.txt).
    libyaml-cpp-dev
    redis-server redis-tools
    # tests/e2e/forward_auth_itest.cpp puts a real nginx auth_request in front of sluice.
    nginx
    shellcheck docker-compose
)

# What the libFuzzer harnesses need on top (scripts/fuzz, and scripts/test, which runs them):
# clang, its libFuzzer and sanitizer runtimes, and llvm-symbolizer for readable stack traces.
SLUICE_FUZZ_PACKAGES=(clang libclang-rt-14-dev llvm)

sluice_install_packages() {
    sluice_install_missing "${SLUICE_PACKAGES[@]}"
}

sluice_install_fuzz_packages() {
    sluice_install_missing "${SLUICE_FUZZ_PACKAGES[@]}"
}

# sluice_install_missing <package>...
sluice_install_missing() {
    local missing=()
    local pkg
    for pkg in "$@"; do
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

# sluice_build_targets <build-dir> <build-type> <target>... : configures like sluice_build, then
# builds only the named targets.
sluice_build_targets() {
    local dir="$1" type="$2"
    shift 2
    local jobs
    jobs="$(nproc 2>/dev/null || echo 2)"
    cmake -S "$SLUICE_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null
    cmake --build "$dir" -j "$jobs" --target "$@"
}

# Prints a TCP port on 127.0.0.1 that nothing listens on right now.
sluice_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    # Without Python: a port whose connection is refused is free (loopback refuses at once).
    local port _
    for _ in {1..100}; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "sluice: no free port found" >&2
    return 1
}

# sluice_wait_redis <port> [pid]: waits up to 5 s for PONG; gives up early if <pid> has exited.
sluice_wait_redis() {
    local port="$1" pid="${2:-}" _
    for _ in {1..100}; do
        if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; then
            return 0
        fi
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.05
    done
    return 1
}
