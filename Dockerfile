# The image that compose.yaml runs as api, worker and the migration step.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY fund ./fund
COPY workers ./workers
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --system --no-create-home fund
USER fund
EXPOSE 8000
CMD ["fund", "serve"]
