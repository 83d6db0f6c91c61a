#!/usr/bin/env bash
# Creates the benchmark peers' own environment (Keras 3 + TensorFlow CPU), kept OUT of the
# project's dependencies. bench_trainers.py runs benchmarks/peers/keras_peer.py with it.
#   bash benchmarks/setup_peers.sh            # -> /work/bench-venv (or $BENCH_VENV)
# Optional, for the malloc experiment in bench_trainers.py (Debian/Ubuntu, as root):
#   apt-get install -y libjemalloc2 libtcmalloc-minimal4
set -euo pipefail
VENV="${BENCH_VENV:-/work/bench-venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install tensorflow-cpu keras numpy
"$VENV/bin/python" - <<'PY'
import keras, tensorflow as tf, numpy as np
print("keras", keras.__version__, "tensorflow", tf.__version__, "numpy", np.__version__,
      "backend", keras.backend.backend())
PY
if [ "${INSTALL_MALLOCS:-0}" = "1" ] && command -v apt-get >/dev/null; then
  apt-get install -y libjemalloc2 libtcmalloc-minimal4
fi
