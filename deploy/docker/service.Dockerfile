# One image per service, holding only that service and libs/common:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=scorer -t dealpulse-scorer .
FROM python:3.11-slim
ARG SERVICE
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SERVICE=${SERVICE}
WORKDIR /app
COPY requirements/constraints.txt requirements/constraints.txt
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
RUN pip install --no-cache-dir -c requirements/constraints.txt ./libs/common ./services/${SERVICE} \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin dealpulse
USER 10001
CMD ["sh", "-c", "exec python -m dealpulse_${SERVICE}"]
