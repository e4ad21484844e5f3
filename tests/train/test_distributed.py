"""The trainer under DistributedDataParallel: 2 CPU processes with gloo, as torchrun runs them."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fusegen.data import ImageDataset
from fusegen.models import DCGAN
from fusegen.checkpoint import load_checkpoint
from fusegen.train import GANTask, Trainer, TrainSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    # What torchrun sets for each process.
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    data = ImageDataset(torch.rand(64, 1, 16, 16, generator=g), torch.arange(64) % 4)
    task = GANTask(DCGAN(latent_dim=8, image_size=16, width=4, num_classes=4))
    settings = TrainSettings(steps=4, batch_size=8, device="cpu", progress=False, seed=5)
    trainer = Trainer(task, data, out, settings)
    # A group the caller made is left open by fit(): compare the processes' weights after it.
    dist.init_process_group("gloo", rank=rank, world_size=world)
    trainer.fit()
    torch.save({"params": [p.detach().clone() for p in task.model.parameters()],
                "rng": torch.get_rng_state()}, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_gloo_processes_train_in_sync(tmp_path):
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for a, b in zip(r0["params"], r1["params"]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # DDP kept the replicas identical
    assert not torch.equal(r0["rng"], r1["rng"])  # while each process drew its own noise
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["train_state"]["world"] == 2 and len(ckpt["train_state"]["rng"]) == 2
    assert ckpt["train_state"]["step"] == 4
