# faultline's container image: `faultline` (the agent, drills, the API client)
# and `fixture` (the systems under test the suites' scenarios spawn).
#
#   docker build -t faultline .
#   docker run --rm -p 8474:8474 -e FAULTLINE_TOKEN="$(openssl rand -hex 16)" faultline
#
# The default command is the agent, `faultline serve` on 0.0.0.0:8474; off
# loopback it refuses to start without a token (FAULTLINE_TOKEN or --token).
# Checked by scripts/check-dockerfile (scripts/test); see README "Container image".

# ---- build: the workspace's release binaries, with the toolchain it pins ----
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p faultline-harness --bin faultline -p faultline-fixtures --bin fixture \
    && strip target/release/faultline target/release/fixture

# ---- run: a slim base, the two binaries, a user without privileges ----
FROM debian:bookworm-slim AS runtime
RUN groupadd --system --gid 10001 faultline \
    && useradd --system --uid 10001 --gid faultline --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin faultline \
    && mkdir -p /reports \
    && chown faultline:faultline /reports
COPY --from=build /src/target/release/faultline /src/target/release/fixture /usr/local/bin/
USER 10001:10001
WORKDIR /reports
EXPOSE 8474
# Asks the agent's /version on the default port; a container started with
# another --port or --host should override it (docker run --health-cmd ...).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["faultline", "fault", "version", "--url", "http://127.0.0.1:8474"]
ENTRYPOINT ["faultline"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8474"]
