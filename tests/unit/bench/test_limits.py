"""bench.limits: which limit stops a plan of N clients, and what to change (pure)."""

from __future__ import annotations

from dataclasses import replace

from bench.limits import Plan, Readings, problems

ROOMY = Readings(
    nofile_soft=20_000,
    nofile_hard=20_000,
    nr_open=1 << 20,
    file_max=2_000_000,
    files_open=5_000,
    somaxconn=4096,
    port_range=(32768, 60999),
    conntrack_max=262_144,
    conntrack_count=100,
)
PLAN = Plan(
    clients=100_000, gateway_procs=8, crowd_procs=7, sources=7, destinations=2, concurrency=100
)


def test_a_plan_that_fits_has_no_problem() -> None:
    assert problems(ROOMY, PLAN) == ([], [])


def test_too_many_clients_per_process_names_the_limit_and_the_option() -> None:
    stop, _ = problems(ROOMY, replace(PLAN, crowd_procs=4, sources=4))
    [line] = stop
    assert "load-generator process needs about 25,200 open files" in line
    assert "RLIMIT_NOFILE's hard limit of 20,000" in line and "--crowd-procs 6" in line
    stop, _ = problems(ROOMY, replace(PLAN, gateway_procs=2))
    assert any("each gateway process" in s and "--gateway-procs 6" in s for s in stop)


def test_the_system_wide_limits() -> None:
    stop, _ = problems(replace(ROOMY, file_max=150_000), PLAN)
    assert any(s.startswith("fs.file-max 150,000") for s in stop)
    stop, _ = problems(replace(ROOMY, nr_open=10_000), PLAN)
    assert any(s.startswith("fs.nr_open 10,000") for s in stop)
    stop, _ = problems(replace(ROOMY, conntrack_max=65_536), PLAN)
    assert any("nf_conntrack_max 65,536" in s for s in stop)
    assert problems(replace(ROOMY, conntrack_max=None, nr_open=None, file_max=None), PLAN) == (
        [],
        [],
    )


def test_local_ports_per_source_address() -> None:
    # one source address, one destination: 28,232 ports for 100,000 clients
    stop, _ = problems(ROOMY, replace(PLAN, sources=1, destinations=1))
    [line] = [s for s in stop if "ip_local_port_range" in s]
    assert "28,232 ports per source address" in line and "need 4 source addresses" in line


def test_a_small_backlog_slows_but_does_not_stop() -> None:
    stop, slow = problems(replace(ROOMY, somaxconn=128), PLAN)
    assert stop == [] and len(slow) == 1 and "net.core.somaxconn 128" in slow[0]
