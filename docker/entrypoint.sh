#!/usr/bin/env bash
# Start Triton with the production flags; extra arguments are appended (e.g. --model-config-name=gpu).
# On SIGTERM/SIGINT, close the ensembles and wait until none of their requests is in flight before
# passing the signal on: Triton stops every composing model at once, which fails ensemble requests
# caught between two steps (server/drain.py).
set -uo pipefail

if [[ -z "${TRITON_ADMIN_KEY:-}" ]]; then
    echo "entrypoint: TRITON_ADMIN_KEY is not set. It is the value of the admin-key header that the" \
         "logging, trace and shared-memory APIs require; set it to a secret," \
         "e.g. \$(openssl rand -hex 32)." >&2
    exit 64
fi
restricted="logging,trace,shared-memory:admin-key=${TRITON_ADMIN_KEY}"
# Load and unload are the drain's alone: a key made for this start, which nothing else is given.
repository_key=$(python3 -c 'import secrets; print(secrets.token_hex(32))') || exit 1
repository_api="model-repository:repository-key=${repository_key}"
here=$(dirname "$(readlink -f "$0")")

# tcmalloc under Triton and its stubs, as the launcher does (server/allocator.py says why): the NGC
# image ships it. Without it, glibc with a fixed mmap threshold keeps memory flat, more slowly.
if [[ "${LD_PRELOAD:-}" != *malloc* ]]; then
    for tcmalloc in /usr/lib/"$(uname -m)"-linux-gnu/{libtcmalloc.so.4,libtcmalloc_minimal.so.4} ""; do
        [[ -f "$tcmalloc" ]] && break
    done
    if [[ -n "$tcmalloc" ]]; then
        export LD_PRELOAD="$tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}"
        # Bounded caches, freed pages returned sooner: server/allocator.py's TCMALLOC_SETTINGS.
        export TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES="${TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES:-8388608}"
        export TCMALLOC_RELEASE_RATE="${TCMALLOC_RELEASE_RATE:-10}"
    else
        echo "entrypoint: tcmalloc not found; glibc malloc with a fixed mmap threshold" >&2
        export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-1048576}"
    fi
fi

# A published version (s3://...) is downloaded under STORE_CACHE and every file checked against its
# manifest first: Triton serves exactly the published bytes, and goes on serving if the store goes away.
repository="${MODEL_REPOSITORY:-/models}"
if [[ "$repository" == s3://* ]]; then
    echo "entrypoint: fetching $repository" >&2
    repository=$(PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" python3 -m store fetch "$repository" "${STORE_CACHE:-/tmp/model-store}") \
        || exit 1
fi

tritonserver \
    --model-repository="$repository" \
    --model-control-mode=explicit \
    --load-model="*" \
    --strict-readiness=true \
    --exit-on-error=true \
    --exit-timeout-secs="${EXIT_TIMEOUT_SECS:-30}" \
    --http-restricted-api="$restricted" \
    --grpc-restricted-protocol="$restricted" \
    --http-restricted-api="$repository_api" \
    --grpc-restricted-protocol="$repository_api" \
    "$@" &
server=$!

# Triton does not restart a Python stub that died and may still report its model ready: end the
# container at once so the orchestrator restarts it (SIGKILL: Triton would wait its exit timeout).
(
    if ! python3 "$here/watch_stubs.py" --server-pid "$server" \
            --ready-url "${TRITON_READY_URL:-http://127.0.0.1:8000/v2/health/ready}"; then
        echo "entrypoint: a Python stub died; killing tritonserver so that the container is restarted" >&2
        kill -KILL "$server" 2>/dev/null
    fi
) &

stop() {
    TRITON_REPOSITORY_KEY="$repository_key" python3 "$here/wait_idle.py" --timeout "${DRAIN_TIMEOUT_SECS:-30}"
    kill -TERM "$server" 2>/dev/null
}
trap stop TERM INT

# wait returns early when a trapped signal arrives: keep waiting until the server has exited.
wait "$server"
status=$?
while kill -0 "$server" 2>/dev/null; do
    wait "$server"
    status=$?
done
exit "$status"
