"""Run under ``torchrun --nproc_per_node=K``: the FVD of two generated sets with the tiny stand-in detector
(or DeepMind's I3D from a weights file), written by rank 0 as JSON with each rank's share of videos; and
the streaming ``FVD`` fed each rank's share of two larger sets of 12-frame videos, beside ``compute``."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch


def sets() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    real = rng.integers(0, 256, (7, 12, 16, 16, 3), dtype=np.uint8)
    fake = (rng.integers(0, 200, (5, 14, 20, 24, 3)) + 40).astype(np.uint8)
    return real, fake


def _more_than_features() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    return rng.integers(0, 256, (31, 12, 8, 8, 3), dtype=np.uint8), rng.integers(30, 220, (26, 12, 8, 8, 3), np.uint8)


def run(weights: str | None = None) -> dict:
    import torch.distributed as dist

    from converter.distributed import process_group, world
    from converter.fvd import FVD
    from converter.fvd.api import compute
    from converter.fvd.distributed import shard
    from converter.fvd.features import load_detector
    from tests.fvd.tiny import FrameMeans

    with process_group(torch.device("cpu")):
        rank, size = world()
        real, fake = sets()
        model = load_detector(weights) if weights else FrameMeans(12)
        results = {
            protocol: compute(real, fake, model=model, protocol=protocol, frames=12, batch_size=2).fvd
            for protocol in ("tf", "stylegan-v")
        }
        streaming, clips = {}, {}
        many = _more_than_features()  # rank-deficient covariances would make sqrtm amplify rounding
        for protocol in ("tf", "stylegan-v"):
            metric = FVD(model, protocol=protocol, batch_size=2)
            for videos, is_real in zip(many, (True, False), strict=True):
                for i in shard(list(range(len(videos))), rank, size):
                    metric.update(videos[i : i + 1], real=is_real)
            streaming[protocol] = metric.compute()
            clips[protocol] = compute(*many, model=model, protocol=protocol, frames=12).fvd
        shares: list = [None] * size
        if size > 1:
            dist.all_gather_object(shares, shard(list(range(7)), rank, size))
        else:
            shares = [list(range(7))]
    return {"fvd": results, "streaming": streaming, "clips": clips, "world": size, "shares": shares, "rank": rank}


if __name__ == "__main__":
    found = run(sys.argv[2] if len(sys.argv) > 2 else None)
    if found["rank"] == 0:
        with open(sys.argv[1], "w") as out:
            json.dump(found, out)
