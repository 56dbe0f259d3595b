# Triton with production flags (server/container.py), serving a published version from an S3-compatible store
# (MODEL_REPOSITORY=s3://...), verified against its manifest first, or a repository mounted at /models.
ARG TRITON_RELEASE=25.08
FROM nvcr.io/nvidia/tritonserver:${TRITON_RELEASE}-py3

# server/container.py runs Triton on the image's tcmalloc (server/allocator.py says why).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The Python models (tokenizer, postprocess) import only these. The image's Python is the
# system one: the flag lets pip install into it, which is what a single-purpose image wants.
RUN python3 -m pip install --no-cache-dir --break-system-packages tokenizers==0.23.3 numpy==1.26.4 huggingface_hub==2.4.0
# The entry fetches a published version (MODEL_REPOSITORY=s3://...) with store/.
RUN python3 -m pip install --no-cache-dir --break-system-packages \
        boto3==1.44.5 botocore==1.44.5 s3transfer==0.19.3 jmespath==1.1.0 python-dateutil==2.9.0.post0 \
        urllib3==2.8.0 six==1.17.0 tqdm==4.70.1

WORKDIR /opt/sentiment
# Whole packages, each of which the entry imports on the standard library alone: server/ (the serving
# core, the entry and the health check; server/__init__.py says which module does what), store/ (fetches
# a published version) and conversion/, whose repository.py holds the repository's layout (its other
# modules need torch and are never imported here).
COPY server/ server/
COPY store/ store/
COPY conversion/ conversion/

# triton-server, uid 1000 in the NGC image; numeric so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 8000 8001 8002
# /v2/models/<ensemble>/ready of every pipeline served (server/health.py), not /v2/health/ready.
# Neither notices a dead Python stub before the Python backend's active health checks: the entry
# watches the stub processes for that.
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python3", "-m", "server.health"]
ENTRYPOINT ["python3", "-m", "server.container"]
