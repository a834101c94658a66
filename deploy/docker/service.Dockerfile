# One image per service, holding only that service and libs/common:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=scorer -t dealpulse-scorer .

# The dashboard's browser libraries (gateway only), from the lockfile, exactly as `make install` gets them.
FROM node:20-slim AS web
WORKDIR /app
COPY services/gateway/web services/gateway/web
RUN npm ci --prefix services/gateway/web --no-audit --no-fund

FROM python:3.11-slim
ARG SERVICE
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SERVICE=${SERVICE}
WORKDIR /app
COPY requirements/constraints.txt requirements/constraints.txt
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
COPY --from=web /app/services/gateway/dealpulse_gateway/static/vendor /tmp/web-vendor
RUN if [ "$SERVICE" = gateway ]; then mv /tmp/web-vendor services/gateway/dealpulse_gateway/static/vendor; \
    else rm -rf /tmp/web-vendor; fi \
    && pip install --no-cache-dir -c requirements/constraints.txt ./libs/common ./services/${SERVICE} \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin dealpulse
USER 10001
CMD ["sh", "-c", "exec python -m dealpulse_${SERVICE}"]
