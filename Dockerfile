# syntax=docker/dockerfile:1
# docquery container image: a wheel is built in one stage and installed into /opt/venv,
# and only that venv (which has no pip of its own) is copied into the runtime stage.
ARG PYTHON_IMAGE=python:3.11.15-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
# The build backend is pinned (pyproject asks for setuptools>=77) and the wheel is built without
# build isolation, so the build does not depend on whatever setuptools PyPI serves that day.
RUN pip install --no-cache-dir "setuptools==84.2.1" "wheel==0.48.0"
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-cache-dir \
        -c constraints.txt /wheels/docquery-*.whl

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DOCQUERY_PROFILE=aws \
    DOCQUERY_HOST=0.0.0.0 \
    DOCQUERY_PORT=8000 \
    DOCQUERY_DATA_DIR=/tmp/docquery \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 docquery \
    && useradd --system --uid 10001 --gid docquery --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin docquery
COPY --from=builder /opt/venv /opt/venv
# Bytecode for everything the service and its health check import, made once here: the base
# image ships its standard library without .pyc files and the root filesystem is read-only at
# run time, so otherwise every `docquery healthcheck` recompiled what it imports (about 0.3 s
# of CPU). compileall writes whatever PYTHONDONTWRITEBYTECODE says; this runs as root, before USER.
RUN python -m compileall -q -j 0 /usr/local/lib/python3.11 /opt/venv
WORKDIR /app
# The only writable path when the root filesystem is read-only (ECS readonlyRootFilesystem):
# Fargate copies the image's /tmp (mode 1777) into the task's bind mount of the same path.
VOLUME ["/tmp"]
EXPOSE 8000
# The figures of the task definition's healthCheck (docs/performance.md, "Health check"): a check
# takes 0.1-0.6 s, 1.4 s at worst on a loaded machine; the start period (ECS's maximum) covers the
# aws profile's search index build at 50,000 pages (105-303 s measured); /healthz answers during it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["docquery", "healthcheck"]
USER 10001
ENTRYPOINT ["docquery"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
