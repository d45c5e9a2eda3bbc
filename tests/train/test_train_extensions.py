"""No compiled op is built when training starts, and a build killed with kill -9 never leaves
the next one waiting on torch's `lock` file (real torch builds, private TORCH_EXTENSIONS_DIR)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from affectgpt.train.extensions import clear_stale_locks, lock_holders

# A translation unit g++ needs a few seconds for (distinct template instantiations), so the
# build is surely running when it is killed; the next build uses a trivial one of the same name.
SLOW_SOURCE = textwrap.dedent("""
    template <int A, int B> struct Cell { static constexpr long value = Cell<A, B - 1>::value * 31 + A; };
    template <int A> struct Cell<A, 0> { static constexpr long value = A; };
    template <int A> struct Row { static constexpr long value = Cell<A, 400>::value ^ Row<A - 1>::value; };
    template <> struct Row<0> { static constexpr long value = 0; };
    extern "C" long probe_value() { return Row<400>::value; }
""")
FAST_SOURCE = 'extern "C" long probe_value() { return 1; }\n'

BUILD = textwrap.dedent("""
    import sys
    from torch.utils.cpp_extension import load
    load(name="probe", sources=[sys.argv[1]], is_python_module=False, verbose=False)
    print("built")
""")

needs_compiler = pytest.mark.skipif(not (shutil.which("g++") and shutil.which("ninja")),
                                    reason="torch extension builds need g++ and ninja")


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "TORCH_EXTENSIONS_DIR": str(root)}


def _build(root: Path, source: Path, timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BUILD, str(source)], env=_env(root), capture_output=True,
                          text=True, timeout=timeout_s)


@needs_compiler
def test_a_build_killed_mid_way_leaves_a_lock_that_is_cleared_before_the_next(tmp_path):
    root = tmp_path / "ext"
    slow, fast = tmp_path / "slow.cpp", tmp_path / "fast.cpp"
    slow.write_text(SLOW_SOURCE)
    fast.write_text(FAST_SOURCE)
    lock = root / "probe" / "lock"
    builder = subprocess.Popen([sys.executable, "-c", BUILD, str(slow)], env=_env(root), start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (root / "probe" / "build.ninja").exists() and builder.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)                                        # g++ is compiling now
    assert builder.poll() is None, "the build ended before it could be killed"
    assert lock_holders(lock) == {builder.pid}             # a live build: its lock is left alone
    assert clear_stale_locks(root) == [] and lock.exists()
    os.killpg(builder.pid, signal.SIGKILL)                 # python, ninja and g++ at once
    builder.wait()
    assert lock.exists() and not lock_holders(lock)
    with pytest.raises(subprocess.TimeoutExpired):         # the hazard: torch waits on it forever
        _build(root, fast, timeout_s=4)
    assert clear_stale_locks(root) == [lock] and not lock.exists()
    done = _build(root, fast, timeout_s=120)
    assert done.returncode == 0 and "built" in done.stdout, done.stderr


def test_training_start_builds_no_op(tmp_path):
    """The first DeepSpeed initialize on a CPU compiles deepspeed_shm_comm unless told not to;
    after `prepare_deepspeed_ops` nothing lands in a fresh extension folder."""
    script = textwrap.dedent("""
        import os, sys, torch
        os.environ.update(DS_ACCELERATOR="cpu", RANK="0", LOCAL_RANK="0", WORLD_SIZE="1",
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[1])
        import deepspeed
        from affectgpt.train.extensions import prepare_deepspeed_ops
        prepare_deepspeed_ops()
        model = torch.nn.Linear(4, 1)
        engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                          optimizer=torch.optim.AdamW(model.parameters()),
                                          config={"train_micro_batch_size_per_gpu": 1})
        loss = engine(torch.ones(1, 4)).sum(); engine.backward(loss); engine.step()
        print("shm", deepspeed.comm.comm.cdb.shm_comm_op)
    """)
    from affectgpt.train.env import _free_port

    root = tmp_path / "ext"
    done = subprocess.run([sys.executable, "-c", script, str(_free_port())], env=_env(root), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shm None" in done.stdout
    assert not root.exists() or not any(root.iterdir())
