# vfs-relay in a container: `docker build -t vfs-relay .` then
#   docker run -p 8787:8787 -v vfs-relay-journal:/var/lib/vfs-relay \
#     -v ./vfs-relay.config.json:/etc/vfs-relay/config.json:ro -e PEER_PASSWORD=… vfs-relay
# See docs/install.md.

# Build stage: compile TypeScript, then keep only the runtime dependencies.
FROM node:22-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build-cli.ts ./scripts/build-cli.ts
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --ignore-scripts

# Runtime stage: the built package and its production dependencies, run as the image's unprivileged `node` user.
FROM node:22-slim
ENV NODE_ENV=production \
    VFS_RELAY_CONFIG=/etc/vfs-relay/config.json \
    VFS_RELAY_LOG_FORMAT=json
WORKDIR /opt/vfs-relay
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY schema ./schema
COPY LICENSE ./LICENSE
# The default config listens on all interfaces and keeps the journal (and the generated admin token) on the volume.
COPY packaging/docker/vfs-relay.config.json /etc/vfs-relay/config.json
RUN mkdir -p /var/lib/vfs-relay && chown node:node /var/lib/vfs-relay \
    && chmod 0755 /opt/vfs-relay/dist/cli/vfs-relay.cjs && ln -s /opt/vfs-relay/dist/cli/vfs-relay.cjs /usr/local/bin/vfs-relay
USER node
VOLUME ["/var/lib/vfs-relay"]
EXPOSE 8787
# The image has no curl: Node's fetch asks the relay's own health endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8787/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/vfs-relay/dist/cli/vfs-relay.cjs"]
CMD ["serve"]
