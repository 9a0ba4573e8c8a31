# Showrunner service image. gen/ is committed, so the image needs no code generation; the web
# app is built on the host into build/web first, and taken in as built.
# Build: make image (make web, then docker build -t showrunner .)    Run: see README,
# "Deployment with the image". .dockerignore sends only what is copied below.

FROM python:3.11-slim-bookworm AS build
WORKDIR /app
COPY requirements.lock ./
# Runtime only (requirements.lock): the test and code-generation tools stay out of the image.
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r requirements.lock

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home /app showrunner
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY gen ./gen
COPY service ./service
# The pages and their assets, served from the HTTP port (service/doors/web.py looks for them here).
COPY build/web ./build/web
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/gen:/app \
    PYTHONUNBUFFERED=1 \
    SHOW_HOST=0.0.0.0 \
    SHOW_GRPC_PORT=50051 \
    SHOW_HTTP_PORT=3001
USER showrunner
EXPOSE 50051 3001
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('SHOW_HTTP_PORT', '3001'), timeout=2)"]
CMD ["python", "-m", "service"]
