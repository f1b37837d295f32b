# clawgate in a container: a build stage with the Rust toolchain, and a small final image that
# runs the one binary as a non-root user, with its data in a volume.
#
#   docker build -t clawgate .
#   docker run -p 3000:3000 -v clawgate-data:/data clawgate
#
# The build stage runs the same command as CI's build (`cargo build --release --locked`).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p clawgate \
    && install -D -m 0755 target/release/clawgate /out/clawgate

FROM debian:bookworm-slim
# curl only for the health check; ca-certificates for Web Push and HTTPS to push services.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311* curl=7.88.* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin clawgate \
    && install -d -m 0700 -o clawgate -g clawgate /data
COPY --from=build /out/clawgate /usr/local/bin/clawgate
USER 10001:10001
WORKDIR /data
# Listen on every address inside the container; the database and its secrets live in /data.
ENV HOST=0.0.0.0 PORT=3000 DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 3000
# Plain HTTP, or HTTPS when TLS_CERT or ACME_DOMAIN is set (asked by name, for the certificate;
# -k: the check is of the server, not of its certificate).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["sh", "-c", "p=${PORT:-3000}; n=${ACME_DOMAIN:-localhost}; curl -fsS http://127.0.0.1:$p/health || curl -fsSk --resolve $n:$p:127.0.0.1 https://$n:$p/health"]
ENTRYPOINT ["clawgate"]
CMD ["serve"]
