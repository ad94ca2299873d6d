"""One run in several processes: data parallelism through Lightning Fabric's DDP strategy (PyTorch's
DistributedDataParallel; gloo on the CPU, NCCL on GPUs).

``trainer.devices=N`` on one machine: the process the user started is rank 0; it starts the N-1 others itself
(``python -m dltool.rank JOB``, the composed config in a JSON file), as Fabric's own launcher and torchrun do. Several
machines (``trainer.num_nodes=M``): torchrun on each machine starts every rank, and each rank reads its place from
torchrun's environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``).

Every rank builds the same run from the same config and seed (the same split, the same initial weights, the same
permutation each epoch) and takes its shard of each mini-batch, ``perm[lo:hi][rank::world]``. DDP averages the
gradients; each shard's mean loss is weighted by its share of the batch, so that the average is the gradient of the
whole batch's mean loss: one process with the same global batch, up to float rounding. A split is measured in
contiguous shards whose sums are gathered and added in rank order (dltool.loop.evaluate), so every rank sees the same
figures and takes the same early-stopping decisions; rank 0 alone writes the run folder.

What differs from one process: dropout masks and augmentation (each rank draws its own, from a stream derived from
the seed and its rank; last.ckpt keeps every rank's random state) and batch norm's statistics (of each rank's shard).
A rank that stops fails the run with one line (RunFailed); its ``last.ckpt`` resumes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from dltool.errors import RunFailed, UserError, check_number, choices

STRATEGIES = ("auto", "ddp")  # auto: ddp when trainer.devices x trainer.num_nodes > 1
ONE_PROCESS_A_TRIAL = ("a study runs each trial in one process: drop trainer.devices / trainer.num_nodes "
                       "(--workers N runs N trials at once)")
TORCHRUN = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # what a started rank reads


@dataclass
class Ranks:
    """This process's place in a run of ``world`` processes; ``spawn``: it starts the other ranks of this machine."""

    world: int
    rank: int
    local: int
    local_world: int
    address: str
    port: int
    spawn: bool = False


def check(t: dict) -> int:
    """Check trainer.devices, trainer.num_nodes and trainer.strategy; the number of processes they ask for."""
    check_number(t["devices"], "trainer.devices", low=1, integer=True)
    check_number(t["num_nodes"], "trainer.num_nodes", low=1, integer=True)
    if t["strategy"] not in STRATEGIES:
        raise UserError(f"unknown trainer.strategy '{t['strategy']}'; choose from: {choices(STRATEGIES)}")
    world = t["devices"] * t["num_nodes"]
    if t["strategy"] == "ddp" and world == 1:
        raise UserError("trainer.strategy=ddp runs several processes: give trainer.devices=N (N > 1) or "
                        "trainer.num_nodes=M, or trainer.strategy=auto for one")
    if world > 1 and t["batch_size"] < world:
        raise UserError(f"trainer.batch_size={t['batch_size']} cannot be shared by {world} processes: give "
                        f"trainer.batch_size >= {world}")
    return world


def ranks(t: dict) -> Ranks | None:
    """Where this process stands (None: a run of one process). A rank started by torchrun or by this run's rank 0
    reads it from its environment; otherwise this process is rank 0 and starts the others."""
    world = t["devices"] * t["num_nodes"]
    env = os.environ
    if all(key in env for key in TORCHRUN):
        started = int(env["WORLD_SIZE"])
        if started != world:
            raise UserError(f"torchrun started {started} processes, but trainer.devices x trainer.num_nodes = "
                            f"{t['devices']} x {t['num_nodes']} = {world}: give the same numbers to both")
        if world == 1:
            return None
        return Ranks(world, int(env["RANK"]), int(env["LOCAL_RANK"]), t["devices"], env["MASTER_ADDR"],
                     int(env["MASTER_PORT"]))
    if world == 1:
        return None
    if t["num_nodes"] > 1:
        raise UserError(f"trainer.num_nodes={t['num_nodes']}: start the run on each machine with torchrun, e.g. "
                        f"torchrun --nnodes {t['num_nodes']} --nproc-per-node {t['devices']} --node-rank I "
                        "--master-addr HOST --master-port 29500 -m dltool train ... (see README)")
    from lightning_fabric.plugins.environments.lightning import find_free_network_port

    return Ranks(world, 0, 0, t["devices"], "127.0.0.1", find_free_network_port(), spawn=True)


def threads(r: Ranks) -> int:
    """Torch threads for each rank of a machine when trainer.threads is not given: its cores shared out."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // r.local_world)


def environment(r: Ranks):
    """Lightning Fabric's view of ``r`` (a ClusterEnvironment whose processes are started outside Fabric)."""
    from lightning_fabric.plugins.environments import ClusterEnvironment

    class Started(ClusterEnvironment):
        creates_processes_externally = True
        main_address = r.address
        main_port = r.port

        @staticmethod
        def detect() -> bool:
            return True

        def world_size(self) -> int:
            return r.world

        def set_world_size(self, size: int) -> None:
            pass

        def global_rank(self) -> int:
            return r.rank

        def set_global_rank(self, rank: int) -> None:
            pass

        def local_rank(self) -> int:
            return r.local

        def node_rank(self) -> int:
            return r.rank // r.local_world

    return Started()


def peer_lost(e: BaseException) -> bool:
    """Whether a collective failed because another rank is gone (gloo's and NCCL's words for a closed socket)."""
    return isinstance(e, RuntimeError) and any(
        words in str(e) for words in ("Connection reset", "Connection closed", "Broken pipe", "closed by peer"))


class Group:
    """The ranks of a run once they have met: the children rank 0 started, and how to tell which one stopped."""

    def __init__(self, r: Ranks, children: list):
        self.ranks, self.children = r, children

    def pids(self) -> list[int]:
        return [os.getpid()] + [p.pid for p in self.children]

    def stopped(self, e: BaseException) -> RunFailed | None:
        """The RunFailed that a collective's error ``e`` means when another rank has stopped; None if none has."""
        for _ in range(50):  # the rank that died has often not been reaped yet when its socket closes
            for rank, p in enumerate(self.children, start=1):
                if p.poll() is not None:
                    how = f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exit code {p.returncode}"
                    return RunFailed(f"rank {rank} of {self.ranks.world} stopped ({how})")
            if not self.children:
                break
            time.sleep(0.1)
        if peer_lost(e):
            return RunFailed(f"another process of this {self.ranks.world}-process run stopped "
                             f"({str(e).splitlines()[0][:120]})")
        return None

    def end(self, ok: bool) -> None:
        """Wait for the children of a run that ended together (a minute at most); stop those of one that did not
        (they wait in a collective for a rank 0 that has left it)."""
        for p in self.children:
            if ok:
                try:
                    p.wait(timeout=60)
                    continue
                except subprocess.TimeoutExpired:
                    pass
            p.kill()
            p.wait()


@contextmanager
def joined(fabric, r: Ranks | None, job: dict):
    """The ranks of the run started (rank 0 starts this machine's others) and met (Fabric's ``launch``: the process
    group); None for a run of one process. A child that stops before they meet ends rank 0 with one line."""
    if r is None:
        yield None
        return
    children, path = [], None
    met = threading.Event()
    if r.spawn:
        fd, path = tempfile.mkstemp(prefix="dltool-ddp-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(job, f)
        for local in range(1, r.local_world):
            env = {**os.environ, "RANK": str(local), "LOCAL_RANK": str(local), "WORLD_SIZE": str(r.world),
                   "MASTER_ADDR": r.address, "MASTER_PORT": str(r.port)}
            children.append(subprocess.Popen([sys.executable, "-m", "dltool.rank", path], env=env))
        threading.Thread(target=_watch_start, args=(children, met, r.world, path), daemon=True).start()
    group = Group(r, children)
    ok = False
    try:
        fabric.launch()  # the process group: every rank waits here for the others
        met.set()
        if path is not None:
            os.unlink(path)
            path = None
        yield group
        ok = True
    finally:
        met.set()
        if path is not None:
            os.unlink(path)
        group.end(ok)
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _watch_start(children: list, met: threading.Event, world: int, path: str) -> None:
    """Until the ranks have met: a child that stops means they never will (rank 0 would wait for it for half an
    hour, torch's timeout): say which, stop the others, end this process."""
    while not met.wait(0.2):
        for rank, p in enumerate(children, start=1):
            if p.poll() is not None:
                for q in children:
                    if q.poll() is None:
                        q.kill()
                print(f"dltool: rank {rank} of {world} stopped before training started (exit code {p.returncode})",
                      file=sys.stderr, flush=True)
                with suppress(OSError):
                    os.unlink(path)
                os._exit(1)


def same_weights(tensors) -> None:
    """Every rank takes rank 0's values of ``tensors``, in place: a module's state (the best checkpoint, which only
    rank 0 reads) or its buffers (batch norm's running statistics, which each rank updates from its own shard)."""
    import torch.distributed as dist

    for tensor in tensors:
        dist.broadcast(tensor, 0)


def gathered(sums: dict) -> list[dict]:
    """Every rank's ``sums`` (a split's figures summed over its shard), in rank order."""
    import torch.distributed as dist

    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, sums)
    return out
