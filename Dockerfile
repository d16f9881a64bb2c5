# One image for every Agora service (coordinator, worker, verifier, referee, deploy); the command picks the role.
FROM python:3.11-slim
# gcc + libc6-dev: pip builds RepOps' compiled loops (verde/repops/csrc; without them the same bits, slower)
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm make gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir torch==2.13.0 && pip install --no-cache-dir -e .
ENV AGORA_ARTIFACT_DIR=/data/artifacts
