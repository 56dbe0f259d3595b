# The client CLI: python -m clients (gRPC by default; --url server:8001 in compose).
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/sentiment
COPY requirements.txt .
# requirements.txt as constraints: the client's dependencies get the versions the tests ran with.
RUN pip install --no-cache-dir --constraint requirements.txt \
        "tritonclient[grpc,http]==2.51.0" numpy==1.26.4 protobuf==4.25.9 grpcio==1.85.1
COPY clients/ clients/

USER 65534:65534
ENTRYPOINT ["python", "-m", "clients"]
CMD ["--help"]
