"""Kaldi-style recipe helpers in recipes/utils: parse_options.sh, run.pl, slurm.pl, log.sh, done markers."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[1] / "recipes" / "utils"


def bash(script: str, cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    path = cwd / "script.sh"
    path.write_text(textwrap.dedent(script))
    full_env = {**os.environ, "PATH": f"{UTILS}:{os.environ['PATH']}", **(env or {})}
    return subprocess.run(["bash", str(path), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60)


OPTIONS_SCRIPT = f"""
    set -euo pipefail
    foo_bar=1
    use_gpu=false
    cmd="run.pl"
    help_message="Usage: script.sh [options] <dir>\\n  --foo-bar N"
    . {UTILS}/parse_options.sh
    echo "foo_bar=[$foo_bar] use_gpu=[$use_gpu] cmd=[$cmd] rest=[$*]"
"""


def test_parse_options_sets_variables_and_leaves_positionals(tmp_path: Path) -> None:
    r = bash(OPTIONS_SCRIPT, tmp_path, "--foo-bar", "7", "--use-gpu", "true", "--cmd", 'slurm.pl --mem "4G" $x', "a", "b")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'foo_bar=[7] use_gpu=[true] cmd=[slurm.pl --mem "4G" $x] rest=[a b]'


def test_parse_options_rejects_unknown_option_and_bad_bool(tmp_path: Path) -> None:
    r = bash(OPTIONS_SCRIPT, tmp_path, "--no-such-option", "1")
    assert r.returncode == 1 and "invalid option --no-such-option" in r.stderr
    r = bash(OPTIONS_SCRIPT, tmp_path, "--use-gpu", "yes")
    assert r.returncode == 1 and 'expected "true" or "false"' in r.stderr
    r = bash(OPTIONS_SCRIPT, tmp_path, "--foo-bar=3")
    assert r.returncode == 1 and "--name value" in r.stderr
    r = bash(OPTIONS_SCRIPT, tmp_path, "--cmd", "")
    assert r.returncode == 1 and "empty argument to --cmd" in r.stderr


def test_parse_options_help_and_config(tmp_path: Path) -> None:
    r = bash(OPTIONS_SCRIPT, tmp_path, "--help")
    assert r.returncode == 0 and "Usage: script.sh [options] <dir>\n  --foo-bar N" in r.stderr
    conf = tmp_path / "my.conf"
    conf.write_text("foo_bar=5\nuse_gpu=true\n")
    r = bash(OPTIONS_SCRIPT, tmp_path, "--config", str(conf), "x")
    assert r.stdout.strip() == "foo_bar=[5] use_gpu=[true] cmd=[run.pl] rest=[x]"
    # The command line wins over the config file, whatever their order.
    r = bash(OPTIONS_SCRIPT, tmp_path, "--foo-bar", "9", "--config", str(conf))
    assert r.stdout.strip().startswith("foo_bar=[9] use_gpu=[true]")
    r = bash(OPTIONS_SCRIPT, tmp_path, "--config", str(tmp_path / "missing.conf"))
    assert r.returncode == 1 and "missing config" in r.stderr


def _intervals(tmp_path: Path, n: int) -> list[tuple[float, float]]:
    out = []
    for i in range(1, n + 1):
        start, end = (tmp_path / f"t.{i}").read_text().split()
        out.append((float(start), float(end)))
    return out


def _overlaps(intervals: list[tuple[float, float]]) -> bool:
    intervals = sorted(intervals)
    return any(b[0] < a[1] for a, b in zip(intervals, intervals[1:]))


def test_run_pl_logs_each_job_and_substitutes_job(tmp_path: Path) -> None:
    r = bash("run.pl JOB=1:3 exp/log/echo.JOB.log echo job JOB \\| tr a-z A-Z\n", tmp_path)
    assert r.returncode == 0, r.stderr
    for i in (1, 2, 3):
        log = (tmp_path / f"exp/log/echo.{i}.log").read_text().splitlines()
        assert log[0] == f"# echo job {i} | tr a-z A-Z"
        assert log[1].startswith("# Started at ")
        assert f"JOB {i}" in log
        assert re.match(r"# Ended \(code 0\) at .*, elapsed time \d+ seconds", log[-1])


def test_run_pl_reports_failed_jobs(tmp_path: Path) -> None:
    r = bash("run.pl JOB=1:3 log/f.JOB.log [ JOB -ne 2 ]\n", tmp_path)
    assert r.returncode == 1
    assert "1 / 3 failed" in r.stderr and "log/f.2.log" in r.stderr and "log/f.1.log" not in r.stderr
    assert "# Ended (code 1)" in (tmp_path / "log/f.2.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "log/f.3.log").read_text()
    r = bash("run.pl log/one.log exit 3\n", tmp_path)
    assert r.returncode == 1 and "job failed, log is in log/one.log" in r.stderr
    assert "# Ended (code 3)" in (tmp_path / "log/one.log").read_text()
    r = bash("run.pl JOB=1:2 log/same.log true\n", tmp_path)
    assert r.returncode == 1 and "put JOB in its name" in r.stderr


@pytest.mark.parametrize("max_jobs,parallel", [(3, True), (1, False)])
def test_run_pl_parallelism(tmp_path: Path, max_jobs: int, parallel: bool) -> None:
    job = "bash -c 'a=$(date +%s.%N); sleep 0.5; echo $a $(date +%s.%N) > t.JOB'"
    r = bash(f"run.pl --max-jobs-run {max_jobs} --mem 4G JOB=1:3 log/p.JOB.log {job}\n", tmp_path)
    assert r.returncode == 0, r.stderr
    assert _overlaps(_intervals(tmp_path, 3)) == parallel


FAKE_SBATCH = """#!/usr/bin/env bash
# Stand-in for Slurm: runs each array task of the script locally, like `sbatch --wait`.
script=${@: -1}
range=$(sed -n 's/^#SBATCH --array=\\([0-9-]*\\).*/\\1/p' "$script")
code=0
for ((i=${range%-*}; i<=${range#*-}; i++)); do SLURM_ARRAY_TASK_ID=$i bash "$script" || code=1; done
exit $code
"""


def test_slurm_pl_dry_run_writes_array_script(tmp_path: Path) -> None:
    r = bash("slurm.pl --mem 4G --gpu 1 --num-threads 2 --time 1:00:00 --max-jobs-run 2 "
             "JOB=1:4 exp/log/train.JOB.log python train.py --part JOB \"a b\"\n", tmp_path,
             env={"SLURM_PL_DRY_RUN": "true"})
    assert r.returncode == 0, r.stderr
    script = (tmp_path / "exp/log/q/train.sh").read_text()
    for line in ("#SBATCH --array=1-4%2", "#SBATCH --mem=4G", "#SBATCH --gres=gpu:1",
                 "#SBATCH --cpus-per-task=2", "#SBATCH --time=1:00:00"):
        assert line in script.splitlines()
    assert r.stdout.strip() == "sbatch --wait exp/log/q/train.sh"
    assert not (tmp_path / "exp/log/train.1.log").exists()


def test_slurm_pl_runs_array_through_sbatch(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(FAKE_SBATCH)
    (bindir / "sbatch").chmod(0o755)
    env = {"PATH": f"{bindir}:{UTILS}:{os.environ['PATH']}"}
    r = bash("slurm.pl JOB=1:3 log/s.JOB.log echo \"task JOB\" \\; [ JOB -ne 3 ]\n", tmp_path, env=env)
    assert r.returncode == 1
    assert "1 / 3 failed" in r.stderr and "log/s.3.log" in r.stderr
    log1 = (tmp_path / "log/s.1.log").read_text()
    assert "task 1" in log1 and "# Ended (code 0)" in log1
    assert "# Ended (code 1)" in (tmp_path / "log/s.3.log").read_text()


def test_log_and_done_markers(tmp_path: Path) -> None:
    script = f"""
        . {UTILS}/log.sh
        . {UTILS}/done_marker.sh
        force=false
        stage_done out feats && echo "done-before"
        mark_done out feats
        stage_done out feats && echo "done-after"
        force=true
        stage_done out feats || echo "forced"
        log "hello world"
    """
    r = bash(script, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["done-after", "forced"]
    assert (tmp_path / "out/.feats.done").exists()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(script\.sh:\d+:main\) hello world\n", r.stderr)


def test_move_aside_keeps_a_non_empty_dir_under_a_new_name(tmp_path: Path) -> None:
    script = f"""
        . {UTILS}/done_marker.sh
        mkdir -p full empty && echo x > full/checkpoint.pt
        moved=$(move_aside full)
        echo "moved=$moved"
        echo "empty=$(move_aside empty) missing=$(move_aside missing)"
        cat "$moved/checkpoint.pt"
    """
    r = bash(script, tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert re.fullmatch(r"moved=full\.old-\d{8}-\d{6}", lines[0])
    assert lines[1:3] == ["empty= missing=", "x"]
    assert not (tmp_path / "full").exists() and (tmp_path / "empty").is_dir()


def test_decode_stage_decodes_again_when_its_marker_key_changes(tmp_path: Path) -> None:
    """steps/decode_transducer.sh: the same options and --marker-key skip; another key (the fusion
    LM's hash after the LM was rebuilt from other text) decodes again."""
    (tmp_path / "utils").symlink_to(UTILS)
    (tmp_path / "steps").symlink_to(UTILS.parent / "steps")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "cuts.jsonl.gz").write_bytes(b"")
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "python").write_text(f'#!/bin/bash\necho "$@" >> {tmp_path}/calls\n')
    (stub / "python").chmod(0o755)

    def decode(key: str) -> subprocess.CompletedProcess:
        return bash(f"""
            steps/decode_transducer.sh --methods m --chunks full --opts "--method-option lm=x.arpa" \\
              --marker-key "{key}" model decode cuts.jsonl.gz
        """, tmp_path, env={"PATH": f"{stub}:{UTILS}:{os.environ['PATH']}"})

    runs = [decode(key) for key in ("hash-a", "hash-a", "hash-b")]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert ["already decoded, skipping" in r.stderr for r in runs] == [False, True, False]
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 2 and all("asr.decoding.evaluate" in c and "lm=x.arpa" in c for c in calls)


def test_parallel_decodes_all_run_and_a_failed_one_is_named(tmp_path: Path) -> None:
    """steps/decode_transducer.sh --nj 2: every (cuts, chunk) decode runs once, side by side; one
    that fails leaves no .done marker, and the step fails naming its log after the others finished."""
    (tmp_path / "utils").symlink_to(UTILS)
    (tmp_path / "steps").symlink_to(UTILS.parent / "steps")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    for name in ("a", "b", "bad"):
        (tmp_path / f"{name}.jsonl.gz").write_bytes(b"")
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "python").write_text(f'#!/bin/bash\nsleep 0.2\necho "$@" >> {tmp_path}/calls\n'
                                 '[[ "$*" != *bad.jsonl.gz* ]]\n')
    (stub / "python").chmod(0o755)
    r = bash("steps/decode_transducer.sh --nj 2 --methods m --chunks 'full 320' model decode "
             "a.jsonl.gz bad.jsonl.gz b.jsonl.gz", tmp_path, env={"PATH": f"{stub}:{UTILS}:{os.environ['PATH']}"})
    assert r.returncode != 0 and "decode/log/decode_bad_m_full.log" in r.stderr
    assert len((tmp_path / "calls").read_text().splitlines()) == 6
    done = sorted(p.name for p in (tmp_path / "decode").rglob(".*.done"))
    assert done == [".decode_m_320.done", ".decode_m_320.done", ".decode_m_full.done", ".decode_m_full.done"]
    assert not list((tmp_path / "decode" / "bad").glob(".*.done"))
