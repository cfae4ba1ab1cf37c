# One image for every vpmu-lab service (aggregator, host-node, guest-vm) and the `vpmu` CLI;
# docker-compose.yml picks the entry point per service: node dist/apps/<app>/main.js.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production KAFKAJS_NO_PARTITIONER_WARNING=1
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY scenarios ./scenarios
RUN mkdir -p /data/out && chown node:node /data/out
USER node
ENTRYPOINT ["node"]
CMD ["dist/apps/cli/main.js", "help"]
