"""The allocator Triton and its stubs run with: tcmalloc where installed, glibc with a fixed mmap threshold otherwise."""

from pathlib import Path

from server.allocator import GLIBC_MMAP_THRESHOLD, TCMALLOC_SETTINGS, find_tcmalloc, in_use, with_allocator


def library(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(b"")
    return directory / name


def test_find_tcmalloc_prefers_the_full_library_and_looks_in_every_directory(tmp_path):
    minimal = library(tmp_path / "a", "libtcmalloc_minimal.so.4")
    full = library(tmp_path / "b", "libtcmalloc.so.4")
    assert find_tcmalloc([tmp_path / "a", tmp_path / "b"]) == minimal, "the first directory with either wins"
    library(tmp_path / "a", "libtcmalloc.so.4")
    assert find_tcmalloc([tmp_path / "a", tmp_path / "b"]) == tmp_path / "a" / "libtcmalloc.so.4"
    assert find_tcmalloc([tmp_path / "b"]) == full
    assert find_tcmalloc([tmp_path / "empty"]) is None


def test_tcmalloc_goes_first_in_ld_preload_bounded_and_leaves_glibc_settings_alone():
    tcmalloc = Path("/lib/libtcmalloc_minimal.so.4")
    assert with_allocator({}, tcmalloc) == {"LD_PRELOAD": str(tcmalloc), **TCMALLOC_SETTINGS}
    env = with_allocator({"LD_PRELOAD": "/lib/libfoo.so", "HOME": "/root"}, tcmalloc)
    assert env == {"LD_PRELOAD": f"{tcmalloc}:/lib/libfoo.so", "HOME": "/root", **TCMALLOC_SETTINGS}


def test_tcmalloc_settings_the_caller_gives_are_kept():
    env = with_allocator({"TCMALLOC_RELEASE_RATE": "0"}, Path("/lib/libtcmalloc.so.4"))
    assert env["TCMALLOC_RELEASE_RATE"] == "0"
    assert env["TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES"] == TCMALLOC_SETTINGS["TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES"]


def test_an_allocator_the_caller_preloads_is_kept():
    env = {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}
    assert with_allocator(env, Path("/lib/libtcmalloc.so.4")) == env
    assert with_allocator(env, None) == env, "no glibc setting under another allocator"


def test_without_tcmalloc_glibc_gets_a_fixed_mmap_threshold_unless_one_is_set():
    assert with_allocator({}, None) == {"MALLOC_MMAP_THRESHOLD_": str(GLIBC_MMAP_THRESHOLD)}
    assert with_allocator({"MALLOC_MMAP_THRESHOLD_": "65536"}, None) == {"MALLOC_MMAP_THRESHOLD_": "65536"}


def test_in_use_names_the_preloaded_allocator_or_glibc():
    assert in_use({"LD_PRELOAD": "/lib/libfoo.so:/usr/lib/libtcmalloc_minimal.so.4"}) == "libtcmalloc_minimal.so.4"
    assert in_use({"MALLOC_MMAP_THRESHOLD_": "1048576"}) == "glibc malloc, MALLOC_MMAP_THRESHOLD_=1048576"
    assert in_use({"LD_PRELOAD": "/lib/libfoo.so"}) == "glibc malloc"
