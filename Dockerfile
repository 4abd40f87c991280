# Roster images: one build stage compiles all four binaries, then one small
# image per binary shares a runtime stage that holds only the shared
# libraries. docs/deployment.md explains the choice and how to build.
#
#   docker build --target identity -t roster-identity:0.1.0 .
#   docker build --target authz -t roster-authz:0.1.0 .
#   docker build --target sync -t roster-sync:0.1.0 .
#   docker build --target dingtalk-sim -t roster-dingtalk-sim:0.1.0 .
#
# FROM debian:bookworm-slim resolves to whatever the engine has under that
# name; scripts/engine base-image imports one made with debootstrap.

FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
# scripts/bootstrap's build packages. cmocka is there because configuring
# the tree requires it for the unit-test directories, although no test is
# built here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libgrpc-dev grpc-proto \
        libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev \
        golang-github-gogo-googleapis-dev \
        libpq-dev libcurl4-openssl-dev libjansson-dev libssl-dev libmicrohttpd-dev uuid-dev \
        libunistring-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore keeps build trees, docs and deployment files out.
COPY . .
# Parallel compile jobs; larger builders pass --build-arg JOBS=N.
ARG JOBS=2
# The binaries to build. Leaving one out (scripts/compose-smoke --without-sync
# does) is for development; the target stage of a binary left out fails.
ARG BINARIES="roster-identity roster-authz roster-sync roster-dingtalk-sim"
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"${JOBS}" --target ${BINARIES} \
 && mkdir -p /out \
 && for b in ${BINARIES}; do \
        strip -o "/out/$b" "/build/bin/$b"; \
    done

# Runtime libraries of the three services; the package names are bookworm's.
FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libgrpc29 libprotobuf-c1 libpq5 libcurl4 libjansson4 libssl3 libuuid1 libunistring2 \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 roster \
 && useradd --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin roster
# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
WORKDIR /
ENV ROSTER_LOG_LEVEL=info
STOPSIGNAL SIGTERM

FROM runtime AS identity
COPY --from=build /out/roster-identity /usr/local/bin/roster-identity
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["roster-identity", "healthcheck"]
ENTRYPOINT ["roster-identity"]
CMD ["serve"]

FROM runtime AS authz
COPY --from=build /out/roster-authz /usr/local/bin/roster-authz
EXPOSE 50052
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["roster-authz", "healthcheck"]
ENTRYPOINT ["roster-authz"]
CMD ["serve"]

FROM runtime AS sync
COPY --from=build /out/roster-sync /usr/local/bin/roster-sync
EXPOSE 50053
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["roster-sync", "healthcheck"]
ENTRYPOINT ["roster-sync"]
CMD ["serve"]

# The simulator is a test tool: it adds libmicrohttpd and has no healthcheck
# subcommand, so its HEALTHCHECK asks /_sim/stats with bash's /dev/tcp.
FROM runtime AS dingtalk-sim
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && install -d -o 10001 -g 10001 -m 0755 /var/lib/roster-dingtalk-sim
USER 10001:10001
COPY --from=build /out/roster-dingtalk-sim /usr/local/bin/roster-dingtalk-sim
EXPOSE 8090
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8090 && printf 'GET /_sim/stats HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["roster-dingtalk-sim"]
CMD ["serve", "--fixture", "/var/lib/roster-dingtalk-sim/org.json", "--addr", "0.0.0.0:8090"]
