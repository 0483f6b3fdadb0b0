#!/usr/bin/env python3
"""The peer of `adjoint train`: the same Fashion-MNIST models (mlp 784-256-128-10, cnn with
two 3x3 conv + 2x2 max-pool layers, 128-10), batch size, Adam learning rate and shuffling
scheme, in JAX with a jit-compiled training step. Prints one JSON line per epoch and a
summary line: epoch seconds (first epoch includes compilation) and test accuracy.

Usage: scripts/peers/fashion_mnist_jax.py [--model mlp|cnn] [--epochs N] [--batch-size 128]
"""
import argparse, gzip, json, os, platform, time
import numpy as np
import jax, jax.numpy as jnp
import optax

def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

def load(directory, train):
    prefix = "train" if train else "t10k"
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int32)
    return images, labels

def dense(key, fan_in, fan_out):
    bound = np.sqrt(6 / (fan_in + fan_out))
    return {"w": jax.random.uniform(key, (fan_in, fan_out), minval=-bound, maxval=bound), "b": jnp.zeros(fan_out)}

def conv(key, cin, cout):
    bound = np.sqrt(6 / (cin * 9))
    return {"w": jax.random.uniform(key, (cout, cin, 3, 3), minval=-bound, maxval=bound), "b": jnp.zeros(cout)}

def init(model, seed):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    if model == "mlp":
        return [dense(k[0], 784, 256), dense(k[1], 256, 128), dense(k[2], 128, 10)]
    return [conv(k[0], 1, 32), conv(k[1], 32, 64), dense(k[2], 64 * 7 * 7, 128), dense(k[3], 128, 10)]

def forward(model, params, x):
    if model == "mlp":
        x = x.reshape(x.shape[0], -1)
        for layer in params[:-1]:
            x = jax.nn.relu(x @ layer["w"] + layer["b"])
        return x @ params[-1]["w"] + params[-1]["b"]
    x = x[:, None]
    for layer in params[:2]:
        x = jax.lax.conv_general_dilated(x, layer["w"], (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        x = jax.nn.relu(x + layer["b"][None, :, None, None])
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    x = x.reshape(x.shape[0], -1)
    x = jax.nn.relu(x @ params[2]["w"] + params[2]["b"])
    return x @ params[3]["w"] + params[3]["b"]

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    train_x, train_y = load(args.data_dir, True)
    test_x, test_y = load(args.data_dir, False)
    params = init(args.model, args.seed)
    optimizer = optax.adam(args.lr)
    state = optimizer.init(params)

    def loss_fn(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(args.model, params, x), y).mean()

    @jax.jit
    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    @jax.jit
    def correct(params, x, y):
        return (forward(args.model, params, x).argmax(axis=1) == y).sum()

    rng = np.random.default_rng(args.seed)
    steps = len(train_x) // args.batch_size
    times, accuracy = [], 0.0
    for epoch in range(args.epochs):
        order = rng.permutation(len(train_x))
        start = time.perf_counter()
        for i in range(steps):
            index = order[i * args.batch_size:(i + 1) * args.batch_size]
            params, state, loss = step(params, state, train_x[index], train_y[index])
        loss.block_until_ready()
        times.append(time.perf_counter() - start)
        accuracy = sum(int(correct(params, test_x[i:i + 1000], test_y[i:i + 1000])) for i in range(0, len(test_x), 1000)) / len(test_x)
        print(json.dumps({"epoch": epoch + 1, "seconds": round(times[-1], 3), "loss": round(float(loss), 4), "test_accuracy": accuracy}), flush=True)
    steady = times[1:] or times
    print(json.dumps({"workload": "fashion-mnist-epoch", "impl": f"jax {jax.__version__} jit", "model": args.model,
                      "batch_size": args.batch_size, "device": str(jax.devices()[0].platform), "machine": platform.processor() or platform.machine(),
                      "first_epoch_s": round(times[0], 3), "epoch_s": round(sorted(steady)[len(steady) // 2], 3), "test_accuracy": accuracy}))

if __name__ == "__main__":
    main()
