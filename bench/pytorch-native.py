#!/usr/bin/python3
"""PyTorch's CPU time for the native comparison in docs/performance.md.

Times torchvision's ResNet-18 (random weights: the time does not depend on
them) on one 1x3x224x224 input in eval mode under torch.no_grad, on the
given thread counts, alternating, and prints one JSON line per thread count.
Needs Debian's python3-torch and python3-torchvision (make bench-pytorch
installs them); nothing is downloaded.
"""
import argparse, json, statistics, time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="2,1")
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--model", default="resnet18")
    a = p.parse_args()
    torch.manual_seed(0)
    net = getattr(torchvision.models, a.model)(weights=None).eval()
    x = torch.rand(1, 3, 224, 224)
    times = {int(t): [] for t in a.threads.split(",")}
    with torch.no_grad():
        for _ in range(a.rounds):
            for t in times:
                torch.set_num_threads(t)
                for _ in range(5):
                    net(x)
                for _ in range(a.runs):
                    t0 = time.perf_counter()
                    net(x)
                    times[t].append((time.perf_counter() - t0) * 1e3)
    for t, ms in times.items():
        print(json.dumps({"engine": "pytorch", "version": torch.__version__,
                          "workload": a.model, "mode": "forward", "threads": t,
                          "median_ms": round(statistics.median(ms), 2),
                          "min_ms": round(min(ms), 2), "runs": len(ms)}))


if __name__ == "__main__":
    main()
