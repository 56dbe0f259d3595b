# python -m conversion in the NGC PyTorch container of the server's release, so the TorchScript
# it writes loads in that release's libtorch. Writes a whole pipeline (--name NAME, default sentiment)
# into the repository mounted at /opt/sentiment/model_repository (or --model-repository DIR, which may
# be empty); `python3 -m store publish` (also here) uploads the folder, every pipeline in it, to an
# S3-compatible store as a new version.
ARG TRITON_RELEASE=25.08
FROM nvcr.io/nvidia/pytorch:${TRITON_RELEASE}-py3

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    HF_HOME=/cache/huggingface

# torch is the container's own and must stay so: it is not installed here.
RUN python3 -m pip install --no-cache-dir --break-system-packages \
        transformers==5.23.0 tokenizers==0.23.3 safetensors==0.8.0 huggingface_hub==2.4.0 \
        boto3==1.44.5 botocore==1.44.5 s3transfer==0.19.3 jmespath==1.1.0 tqdm==4.70.1 \
    && mkdir -p /cache/huggingface /published \
    && chown 1000:1000 /cache/huggingface /published

WORKDIR /opt/sentiment
COPY conversion/ conversion/
COPY store/ store/
# The committed model code (model_repository/sentiment.*/1/*.py, all the dockerignore lets in), which
# conversion copies into every pipeline it writes.
COPY model_repository/ model_repository/

USER 1000:1000
ENTRYPOINT ["python3", "-m", "conversion"]
CMD ["--help"]
