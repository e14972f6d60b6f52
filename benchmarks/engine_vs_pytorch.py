#!/usr/bin/python3
"""Training speed of approxnn's engine and of PyTorch on the same models, batch size and thread count, in one run.

Usage: benchmarks/engine_vs_pytorch.py BENCH_NN [--threads N] [--repetitions R]

BENCH_NN is build/release/benchmarks/bench_nn. PyTorch is Debian's python3-torch (run with /usr/bin/python3).
The two run alternately, R times each, on identical shapes (batch 128 of 28x28x1, 10 classes, SGD with momentum
0.9 and weight decay 5e-4); the table reports medians as seconds per Fashion-MNIST epoch (469 batches) and the
ratio PyTorch / approxnn (above 1: approxnn is faster). Writes the table as Markdown to stdout and JSON to
--json if given.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BATCH = 128
BATCHES_PER_EPOCH = 469


def torch_models():
    import torch.nn as tnn
    import torch.nn.functional as F

    class LeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = tnn.Conv2d(6, 16, 5)
            self.fc1 = tnn.Linear(400, 120)
            self.fc2 = tnn.Linear(120, 84)
            self.fc3 = tnn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = F.relu(self.fc1(x.flatten(1)))
            return self.fc3(F.relu(self.fc2(x)))

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.pad = cout - cin
            self.stride = stride

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x
            if self.stride != 1 or self.pad:  # option A: subsample and zero-pad channels
                shortcut = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
            return F.relu(out + shortcut)

    class ResNet8(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 16, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(16)
            self.layers = tnn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
            self.linear = tnn.Linear(64, 10)

        def forward(self, x):
            x = self.layers(F.relu(self.bn1(self.conv1(x))))
            return self.linear(x.mean((2, 3)))

    return {"lenet5": LeNet5, "resnet8": ResNet8}


def pytorch_seconds_per_epoch(name, threads, steps=30):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = torch_models()[name]()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (BATCH,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * BATCHES_PER_EPOCH


def approxnn_seconds_per_epoch(bench, name, threads):
    env = dict(os.environ)
    out = subprocess.run([bench, f"--benchmark_filter=^train/{name}/float/", "--benchmark_format=json",
                          "--benchmark_min_time=2"], capture_output=True, text=True, check=True, env=env)
    result = json.loads(out.stdout)["benchmarks"][0]
    return result["s_per_epoch"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_nn")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("engine_vs_pytorch.py: PyTorch is missing; install Debian's python3-torch (apt install python3-torch) "
                 "and run this script with /usr/bin/python3")
    rows = []
    for name in ("lenet5", "resnet8"):
        ours, theirs = [], []
        for r in range(args.repetitions):
            ours.append(approxnn_seconds_per_epoch(args.bench_nn, name, args.threads))
            theirs.append(pytorch_seconds_per_epoch(name, args.threads))
            print(f"  {name} repetition {r + 1}: approxnn {ours[-1]:.2f} s, PyTorch {theirs[-1]:.2f} s",
                  file=sys.stderr)
        a, p = statistics.median(ours), statistics.median(theirs)
        rows.append({"model": name, "approxnn_s_per_epoch": a, "pytorch_s_per_epoch": p, "pytorch_over_approxnn": p / a,
                     "approxnn_runs": ours, "pytorch_runs": theirs})
    print(f"| model | approxnn s/epoch | PyTorch {torch.__version__} s/epoch | PyTorch / approxnn |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['approxnn_s_per_epoch']:.2f} | {row['pytorch_s_per_epoch']:.2f} | "
              f"{row['pytorch_over_approxnn']:.2f} |")
    print(f"\n{args.threads} threads, batch {BATCH}, medians of {args.repetitions} alternating runs.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
