# Multi-stage: the build stage compiles the TypeScript with the dev dependencies; the runtime
# image carries only production dependencies and the compiled JavaScript (no tsx, no esbuild,
# no TypeScript at run time).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY config ./config
COPY authz ./authz
COPY gateway ./gateway
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
COPY config/examples ./config/examples
USER node
EXPOSE 8080
ENTRYPOINT ["node", "bin/fhir-gateway.js"]
CMD ["--config", "/etc/fhir-gateway/gateway.yaml"]
