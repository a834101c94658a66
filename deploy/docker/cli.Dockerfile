# The operator image (`dealpulse migrate`, `train`, `promote`): the CLI and every package it drives.
#   docker build -f deploy/docker/cli.Dockerfile -t dealpulse-cli .
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements/constraints.txt requirements/constraints.txt
COPY libs libs
COPY services services
RUN pip install --no-cache-dir -c requirements/constraints.txt ./libs/common ./services/ingest \
        "./services/scorer[training]" ./services/verdict ./services/alerts ./services/gateway ./libs/cli \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin dealpulse
USER 10001
ENTRYPOINT ["dealpulse"]
