# Terrane server image: the binary, its static files, the demo data and MapLibre GL.
# Build: docker build -t terrane .   (docker-compose.yml builds and runs it with its services)

# MapLibre GL from npm, served by the app from web/node_modules (dev packages left out).
FROM node:20-bookworm-slim AS web
WORKDIR /app/web
COPY web/package.json web/package-lock.json ./
RUN PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --omit=dev --no-audit --no-fund

# The server binary. Migrations and templates are compiled in; no database is needed here.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin terrane

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin terrane
WORKDIR /app
COPY --from=build /src/target/release/terrane /usr/local/bin/terrane
COPY static/ static/
COPY seed-data/ seed-data/
COPY --from=web /app/web/node_modules/maplibre-gl/dist web/node_modules/maplibre-gl/dist
USER terrane
ENV TERRANE_BIND=0.0.0.0:8080
EXPOSE 8080
CMD ["terrane", "serve"]
