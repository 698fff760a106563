"""The Python Keras reference for `npm run bench -- backend` (test/bench/backend.ts).

Builds the same models as backend.ts (a ~4.2 M-parameter MLP and a small CNN), trains them with Keras 3's normal
`model.fit` (a compiled tf.function graph; on a CPU-only machine Keras leaves XLA off) and reports examples/s.

Two modes, both answering in JSON lines on stdout (TensorFlow's own chatter goes to stderr):
  python backend_keras.py [--steps N] [--warmup W] [--rounds R] [--batch-mlp B] [--batch-cnn B]
      measures both models and prints ONE JSON line with every result.
  python backend_keras.py --serve
      reads one JSON command per line on stdin and answers each with one JSON line, so backend.ts can interleave
      Keras and tfjs rounds and a burst of load on a shared machine hits both sides alike:
        {"cmd": "setup", "model": "mlp", "batch": 128, "steps": 30, "warmup": 5, "seed": 1}
        {"cmd": "run", "model": "mlp"}     -> one timed fit of `steps` steps
        {"cmd": "quit"}
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
import keras

# Same hyper-parameters as backend.ts. Keras 3 Adam: var -= lr_t * m / (sqrt(v) + eps), the TF ApplyAdam form.
LEARNING_RATE = 1e-3
BETA_1 = 0.9
BETA_2 = 0.999
EPSILON = 1e-7


def build_mlp():
    return keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(2048, activation="relu"),
        keras.layers.Dense(1024, activation="relu"),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def build_cnn():
    return keras.Sequential([
        keras.Input((64, 64, 3)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(5, activation="softmax"),
    ])


MODELS = {"mlp": (build_mlp, (784,), 10), "cnn": (build_cnn, (64, 64, 3), 5)}


def synthetic(shape, classes, n, seed):
    """Random inputs with labels a fixed random projection decides, so a loss that falls shows training works."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape), dtype=np.float32)
    projection = rng.standard_normal((int(np.prod(shape)), classes), dtype=np.float32)
    labels = np.argmax(x.reshape(n, -1) @ projection, axis=1)
    return x, np.eye(classes, dtype=np.float32)[labels]


class Bench:
    def __init__(self, model, batch, steps, warmup, seed):
        build, shape, classes = MODELS[model]
        self.batch, self.steps = batch, steps
        self.x, self.y = synthetic(shape, classes, batch * steps, seed)
        self.model = build()
        self.model.compile(
            optimizer=keras.optimizers.Adam(LEARNING_RATE, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON),
            loss="categorical_crossentropy",
        )
        # Warm-up: traces and compiles the train function; later fit calls reuse it.
        n = batch * max(warmup, 1)
        self.model.fit(self.x[:n], self.y[:n], batch_size=batch, epochs=1, shuffle=False, verbose=0)

    def info(self):
        return {"params": self.model.count_params(), "jitCompile": bool(self.model.jit_compile)}

    def run(self):
        start = time.perf_counter()
        history = self.model.fit(self.x, self.y, batch_size=self.batch, epochs=1, shuffle=False, verbose=0)
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "steps": self.steps,
            "examplesPerSec": self.batch * self.steps / seconds,
            "loss": float(history.history["loss"][-1]),
        }


def hello():
    return {
        "tf": tf.__version__,
        "keras": keras.__version__,
        "python": sys.version.split()[0],
        "intraOpThreads": os.environ.get("TF_NUM_INTRAOP_THREADS", "default"),
        "interOpThreads": os.environ.get("TF_NUM_INTEROP_THREADS", "default"),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    }


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def serve():
    benches = {}
    say({"ready": True, **hello()})
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "setup":
                benches[cmd["model"]] = Bench(cmd["model"], cmd["batch"], cmd["steps"], cmd["warmup"], cmd["seed"])
                say({"model": cmd["model"], **benches[cmd["model"]].info()})
            elif cmd["cmd"] == "run":
                say({"model": cmd["model"], **benches[cmd["model"]].run()})
            elif cmd["cmd"] == "quit":
                return
            else:
                say({"error": f"unknown command {cmd['cmd']!r}"})
        except Exception as e:  # the caller shows the message; the traceback goes to stderr
            import traceback

            traceback.print_exc()
            say({"error": f"{type(e).__name__}: {e}"})


def standalone(args):
    result = hello()
    for model, batch in (("mlp", args.batch_mlp), ("cnn", args.batch_cnn)):
        bench = Bench(model, batch, args.steps, args.warmup, seed=1)
        runs = [bench.run() for _ in range(args.rounds)]
        best = max(runs, key=lambda r: r["examplesPerSec"])
        result[model] = {**bench.info(), "batch": batch, **best, "rounds": [r["examplesPerSec"] for r in runs]}
    say(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-mlp", type=int, default=128)
    parser.add_argument("--batch-cnn", type=int, default=32)
    args = parser.parse_args()
    if args.serve:
        serve()
    else:
        standalone(args)


if __name__ == "__main__":
    main()
