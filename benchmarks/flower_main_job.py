#!/usr/bin/env python3
"""The main job (examples/02_fashion_mnist's defaults) in Flower's simulation, for the comparison
that benchmarks/flower_main_job.sh runs: FedAvg over 100 clients holding the Fashion-MNIST training
set split by Dirichlet label skew Dir(0.5) -- the very partition fedpp's clients hold, read from
the file benchmarks/flower_partition writes -- 10 clients per round, 300 rounds, an MLP 784-200-10
in numpy (float32, the same architecture, initialisation scheme, loss and update as
fedpp::simulation::mlp), one local epoch of minibatch SGD (batch 32, learning rate 0.1 x 0.995^r
in round r = 0, 1, ...), and the global model evaluated on the 10,000 test images after every
round on the server (the strategy's evaluate_fn).

Flower's own code runs the federation: flwr.simulation.run_simulation with the Ray backend
(one CPU per client, so as many clients train at once as there are cores), a ServerApp running
flwr.serverapp.strategy.FedAvg (weighted by the clients' example counts) and a ClientApp.
Prints one JSON line: the wall time (process start to end, Ray's start included), the rounds'
time (from the first round's start to the last evaluation), the evaluation time and the final
test accuracy.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def find(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    sys.exit(f"{stem}(.gz) not found in {directory}")


def read_idx(path, offset):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_split(directory, prefix):
    images = read_idx(find(directory, f"{prefix}-images-idx3-ubyte"), 16).reshape(-1, 784)
    labels = read_idx(find(directory, f"{prefix}-labels-idx1-ubyte"), 8)
    return images.astype(np.float32) * np.float32(1.0 / 255.0), labels.astype(np.int64)


# --- the model: z = W2 relu(W1 x + b1) + b2, softmax cross-entropy (as fedpp::simulation::mlp) ---

def init_params(rng, features=784, hidden=200, classes=10):
    l1 = np.sqrt(6.0 / features)            # He uniform for the ReLU layer
    l2 = np.sqrt(6.0 / (hidden + classes))  # Glorot uniform
    return [rng.uniform(-l1, l1, (hidden, features)).astype(np.float32), np.zeros(hidden, np.float32),
            rng.uniform(-l2, l2, (classes, hidden)).astype(np.float32), np.zeros(classes, np.float32)]


def forward(params, x):
    w1, b1, w2, b2 = params
    h = np.maximum(x @ w1.T + b1, 0)
    return h, h @ w2.T + b2


def cross_entropy(z, y):
    """Per-row loss and softmax probabilities (stable log-sum-exp)."""
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    loss = np.log(s[:, 0]) - (z[np.arange(len(y)), y] - m[:, 0])
    return loss, e / s


def sgd_epoch(params, x, y, lr, batch, rng):
    w1, b1, w2, b2 = params
    order = rng.permutation(len(y))
    loss_sum = 0.0
    for start in range(0, len(y), batch):
        idx = order[start:start + batch]
        xb, yb = x[idx], y[idx]
        h, z = forward((w1, b1, w2, b2), xb)
        loss, dz = cross_entropy(z, yb)
        loss_sum += float(loss.sum())
        dz[np.arange(len(yb)), yb] -= 1
        dz /= np.float32(len(yb))
        dw2, db2 = dz.T @ h, dz.sum(axis=0)
        dh = (dz @ w2) * (h > 0)
        dw1, db1 = dh.T @ xb, dh.sum(axis=0)
        w1 -= lr * dw1
        b1 -= lr * db1
        w2 -= lr * dw2
        b2 -= lr * db2
    return loss_sum / max(len(y), 1)


# --- Flower apps ---------------------------------------------------------------------------------

_client_data = {}


def client_data():
    """This worker's copy of the training set and the partition (loaded once per process)."""
    if not _client_data:
        x, y = load_split(os.environ["FEDPP_FLOWER_DATA"], "train")
        with open(os.environ["FEDPP_FLOWER_PARTITION"]) as f:
            parts = [np.array(line.split(), dtype=np.int64) for line in f]
        _client_data.update(x=x, y=y, parts=parts)
    return _client_data


def make_apps(args, test_x, test_y, stats):
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg

    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        data = client_data()
        pid = int(context.node_config["partition-id"])
        idx = data["parts"][pid]
        params = msg.content["arrays"].to_numpy_ndarrays()
        cfg = msg.content["config"]
        r = int(cfg["server-round"]) - 1  # fedpp counts rounds from 0
        lr = np.float32(float(cfg["lr"]) * float(cfg["lr-decay"]) ** r)
        rng = np.random.default_rng([int(cfg["seed"]), pid, r])
        loss = 0.0
        for _ in range(int(cfg["epochs"])):
            loss = sgd_epoch(params, data["x"][idx], data["y"][idx], lr, int(cfg["batch"]), rng)
        content = RecordDict({"arrays": ArrayRecord(params),
                              "metrics": MetricRecord({"num-examples": len(idx), "train_loss": loss})})
        return Message(content=content, reply_to=msg)

    server_app = ServerApp()

    def evaluate(server_round, arrays):
        start = time.perf_counter()
        if server_round == 0:  # fedpp evaluates after rounds only; the rounds start now
            stats["rounds_start"] = start
            return None
        params = arrays.to_numpy_ndarrays()
        correct, loss_sum = 0, 0.0
        for b in range(0, len(test_y), 1024):  # batches of 1024 as fedpp's evaluate
            _, z = forward(params, test_x[b:b + 1024])
            loss, _ = cross_entropy(z, test_y[b:b + 1024])
            loss_sum += float(loss.sum())
            correct += int((z.argmax(axis=1) == test_y[b:b + 1024]).sum())
        stats["eval_seconds"] += time.perf_counter() - start
        stats["accuracy"] = correct / len(test_y)
        stats["rounds"] = server_round
        stats["rounds_end"] = time.perf_counter()
        return MetricRecord({"accuracy": stats["accuracy"], "loss": loss_sum / len(test_y)})

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = FedAvg(fraction_train=args.clients_per_round / args.clients, fraction_evaluate=0.0,
                          min_train_nodes=args.clients_per_round, min_available_nodes=args.clients)
        initial = ArrayRecord(init_params(np.random.default_rng(args.seed)))
        config = ConfigRecord({"lr": args.lr, "lr-decay": args.lr_decay, "batch": args.batch_size,
                               "epochs": args.local_epochs, "seed": args.seed})
        strategy.start(grid=grid, initial_arrays=initial, num_rounds=args.rounds, train_config=config,
                       evaluate_fn=evaluate)

    return server_app, client_app


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--partition", required=True, help="file written by benchmarks/flower_partition")
    p.add_argument("--data-dir", default=DEFAULT_DATA)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--clients-per-round", type=int, default=10)
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--local-epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--lr-decay", type=float, default=0.995)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cpus", type=int, default=os.cpu_count(), help="CPUs Ray may use")
    args = p.parse_args()

    os.environ["FEDPP_FLOWER_DATA"] = args.data_dir
    os.environ["FEDPP_FLOWER_PARTITION"] = os.path.abspath(args.partition)
    start = time.perf_counter()
    from flwr.simulation import run_simulation

    test_x, test_y = load_split(args.data_dir, "t10k")
    stats = {"eval_seconds": 0.0, "accuracy": None, "rounds": 0, "rounds_start": 0.0, "rounds_end": 0.0}
    server_app, client_app = make_apps(args, test_x, test_y, stats)
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=args.clients,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": args.cpus}})
    wall = time.perf_counter() - start
    import flwr
    print(json.dumps({"system": f"Flower {flwr.__version__} (run_simulation, Ray backend)",
                      "wall_seconds": round(wall, 2),
                      "rounds_seconds": round(stats["rounds_end"] - stats["rounds_start"], 2),
                      "eval_seconds": round(stats["eval_seconds"], 2),
                      "final_accuracy": stats["accuracy"], "rounds": stats["rounds"]}))


if __name__ == "__main__":
    main()
