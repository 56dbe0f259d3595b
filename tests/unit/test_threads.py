"""Thread counts sized to the CPU a process may use (server/threads.py), read from fake /proc and /sys trees."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.threads import WAIT_POLICY, CpuShare, cgroup_quota, cpu_share, physical_cores, with_thread_settings

V1_MOUNTS = """31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 {root} /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V2_MOUNTS = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def v1_tree(root: Path, cgroup: str, quotas: dict[str, int], mount_root: str = "/") -> Path:
    """A cgroup v1 machine (cpu controller mounted with cpuacct, a v2 hierarchy beside it without controllers);
    `quotas` maps cgroup folders under the mount point to cpu.cfs_quota_us (period 100000)."""
    write(root / "proc/self/cgroup", f"5:cpuset:/\n4:cpu,cpuacct:{cgroup}\n0::/\n")
    write(root / "proc/self/mountinfo", V1_MOUNTS.format(root=mount_root))
    for folder, quota in quotas.items():
        write(root / "sys/fs/cgroup/cpu,cpuacct" / folder / "cpu.cfs_quota_us", f"{quota}\n")
        write(root / "sys/fs/cgroup/cpu,cpuacct" / folder / "cpu.cfs_period_us", "100000\n")
    return root


def v2_tree(root: Path, cgroup: str, limits: dict[str, str]) -> Path:
    write(root / "proc/self/cgroup", f"0::{cgroup}\n")
    write(root / "proc/self/mountinfo", V2_MOUNTS)
    for folder, limit in limits.items():
        write(root / "sys/fs/cgroup" / folder / "cpu.max", f"{limit}\n")
    return root


def test_no_quota_in_v1_or_v2(tmp_path):
    assert cgroup_quota(v1_tree(tmp_path / "v1", "/", {".": -1})) is None
    assert cgroup_quota(v2_tree(tmp_path / "v2", "/app", {".": "max 100000", "app": "max 100000"})) is None
    assert cgroup_quota(tmp_path / "no-proc") is None


def test_v1_quota_of_the_cgroup_or_the_smallest_of_its_ancestors(tmp_path):
    assert cgroup_quota(v1_tree(tmp_path / "a", "/pod/app", {".": -1, "pod": -1, "pod/app": 150000})) == 1.5
    assert cgroup_quota(v1_tree(tmp_path / "b", "/pod/app", {".": -1, "pod": 50000, "pod/app": -1})) == 0.5
    assert cgroup_quota(v1_tree(tmp_path / "c", "/pod/app", {".": -1, "pod": 300000, "pod/app": 200000})) == 2


def test_v1_inside_a_container_the_mount_root_is_the_containers_cgroup(tmp_path):
    """Without a cgroup namespace, /proc/self/cgroup names the host's path and the mount shows only its end."""
    root = v1_tree(tmp_path, "/kubepods/pod1/c1", {".": 100000}, mount_root="/kubepods/pod1/c1")
    assert cgroup_quota(root) == 1


def test_v2_quota_fractional_and_single_field(tmp_path):
    assert cgroup_quota(v2_tree(tmp_path / "a", "/", {".": "150000 100000"})) == 1.5
    assert cgroup_quota(v2_tree(tmp_path / "b", "/kube/pod", {".": "max 100000", "kube": "50000 100000", "kube/pod": "max 100000"})) == 0.5
    assert cgroup_quota(v2_tree(tmp_path / "c", "/", {".": "200000"})) == 2, "a single field is the quota over the default period"


def test_threads_are_the_cores_capped_by_the_quota_and_limit_rounded_down_at_least_one():
    assert CpuShare(cores=2).threads == 2
    assert CpuShare(cores=2, quota=1.0).threads == 1
    assert CpuShare(cores=2, quota=1.5).threads == 1
    assert CpuShare(cores=2, quota=0.5).threads == 1
    assert CpuShare(cores=2, quota=4.0).threads == 2
    assert CpuShare(cores=16, quota=6.5, limit=4.0).threads == 4
    assert CpuShare(cores=16, limit=0.25).threads == 1


def test_hyperthreads_of_one_core_count_once(tmp_path):
    for cpu, siblings in {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"}.items():
        write(tmp_path / f"sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list", siblings)
    assert physical_cores({0, 1, 2, 3}, tmp_path) == 2
    assert physical_cores({0, 2}, tmp_path) == 1
    assert physical_cores({4, 5, 6}, tmp_path) == 3, "CPUs without topology count one each"


def test_the_limit_kubernetes_passes_down_caps_the_threads(tmp_path):
    root = v2_tree(tmp_path, "/", {".": "max 100000"})
    share = cpu_share({"CPU_LIMIT_MILLICORES": "1500"}, root)
    assert share.limit == 1.5 and share.threads == 1
    assert cpu_share({"CPU_LIMIT_MILLICORES": ""}, root).limit is None
    assert cpu_share({"CPU_LIMIT_MILLICORES": "0"}, root).limit is None


def test_affinity_bounds_the_cores():
    """A process pinned to one CPU (as taskset or a Kubernetes exclusive cpuset pins it) sizes for one."""
    code = "from server.threads import cpu_share; print(cpu_share({}).cores)"
    pinned = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, preexec_fn=lambda: os.sched_setaffinity(0, {0})
    )
    assert pinned.stdout.strip() == "1"


def test_settings_for_the_share_with_the_wait_policy():
    env = with_thread_settings({"HOME": "/root"}, CpuShare(cores=4, quota=2.0))
    assert env == {"HOME": "/root", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "RAYON_NUM_THREADS": "2", **WAIT_POLICY}


@pytest.mark.parametrize("name", ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_an_operators_torch_thread_count_wins(name):
    env = with_thread_settings({name: "8"}, CpuShare(cores=2))
    assert env[name] == "8"
    other = ({"OMP_NUM_THREADS", "MKL_NUM_THREADS"} - {name}).pop()
    assert other not in env, "the other count is left unset, so torch's own precedence decides"
    assert env["RAYON_NUM_THREADS"] == "2"


@pytest.mark.parametrize("setting", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "INFINITY"}])
def test_an_operators_wait_setting_wins(setting):
    env = with_thread_settings(setting, CpuShare(cores=2))
    assert {key: env.get(key) for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if key in env} == setting
