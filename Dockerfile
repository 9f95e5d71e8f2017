# One image for the operator, the compression Job and the model server:
#   modeldeploy operator | modeldeploy compress | modeldeploy serve
# Build with distillation support: docker build --build-arg EXTRAS=s3,distill .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=s3
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# Wheels for the package and every dependency, so the final stage needs no compiler or network.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin modeldeploy
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl
USER 65532:65532
ENTRYPOINT ["modeldeploy"]
CMD ["--help"]
