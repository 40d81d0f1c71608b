# Multi-stage: dependencies are installed once in a build stage; the runtime image carries only
# production dependencies and the sources (run through tsx, no compile step needed).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY config ./config
COPY gateway ./gateway
COPY authz ./authz
USER node
EXPOSE 8080
ENTRYPOINT ["node", "bin/fhir-gateway.js"]
CMD ["--config", "/etc/fhir-gateway/gateway.yaml"]
