# Two stages: Debian's toolchain and -dev packages build the binaries; the runtime image holds only
# them. Build and run with `docker compose up --build` (compose.yaml adds Redis).

FROM debian:bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        g++ cmake make pkg-config ccache \
        libasio-dev node-llhttp \
        libgtest-dev libgmock-dev libbenchmark-dev libhiredis-dev libyaml-cpp-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# sluice-load comes along: it is the container's health check and a handy client inside it.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF -DSLUICE_BENCH=ON \
    && cmake --build build -j"$(nproc)" --target sluice sluice-load \
    && strip build/core/sluice build/bench/sluice-load

FROM debian:bookworm-slim AS runtime
# Only libstdc++, libgcc_s and libc are needed (sluice speaks RESP itself, without libhiredis),
# and bookworm-slim already has them; the ldd check fails the build if that ever changes.
COPY --from=build /src/build/core/sluice /src/build/bench/sluice-load /usr/local/bin/
RUN if ldd /usr/local/bin/sluice /usr/local/bin/sluice-load | grep 'not found'; then exit 1; fi \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin sluice
USER sluice
EXPOSE 8080 9090
# SIGTERM closes the listeners and finishes in-flight requests within 5 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sluice", "--listen", "0.0.0.0:8080", "--admin", "0.0.0.0:9090"]
