#!/usr/bin/env python3
"""check_safetensors.py -- read recur model files the way Python tools do.

Usage: python3 bench/check_safetensors.py MODEL.recur [MORE.recur ...]

Checks, independently of the C code, that a file written by recur_model_save
follows the safetensors layout (docs/model-file.md):
  * u64 little-endian header length N, JSON header of N bytes, data after it;
  * header padded so the data starts on an 8-byte boundary;
  * __metadata__ holds only strings: format, format_version, recur (config JSON);
  * the tensors are exactly the Keras-named weights the config implies, with the
    Keras shapes, dtype F32, byte ranges that tile the data section in order;
and loads every tensor with numpy (and with torch.frombuffer, and with the
`safetensors` package, when those are installed), checking they agree bit for
bit. Prints one line per tensor; exits 1 on the first problem.
"""
import json
import struct
import sys

import numpy as np

try:
    import torch
except ImportError:  # optional
    torch = None
try:
    from safetensors.numpy import load_file as st_load_file
except ImportError:  # optional; not installed by the project
    st_load_file = None

GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1, "dense": 1}


def expected_tensors(cfg):
    """[(name, shape)] in recur_model_weight() order, Keras naming rules."""
    out, count, width = [], {}, cfg["n_features"]
    for layer in cfg["layers"]:
        kind = layer["kind"]
        k = count.get(kind, 0)
        count[kind] = k + 1
        base = kind if k == 0 else "%s_%d" % (kind, k)
        if kind == "dropout":
            continue
        units = layer["units"]
        gh = GATES[kind] * units
        out.append((base + ".kernel", (width, gh)))
        if kind != "dense":
            out.append((base + ".recurrent_kernel", (units, gh)))
        if kind == "gru" and layer["reset_after"]:
            out.append((base + ".bias", (2, gh)))
        else:
            out.append((base + ".bias", (gh,)))
        width = units
    return out


def check(path):
    raw = open(path, "rb").read()
    if len(raw) < 8:
        raise ValueError("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError("header length %d past the end" % n)
    if (8 + n) % 8:
        raise ValueError("data section not 8-byte aligned (header length %d)" % n)
    text = raw[8 : 8 + n].decode("utf-8")
    if not text.startswith("{") or text.rstrip(" ") != text.rstrip():
        raise ValueError("header must start with '{' and be padded with spaces only")
    header = json.loads(text)
    meta = header.pop("__metadata__")
    if not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("__metadata__ values must be strings")
    if meta.get("format") != "recur-model" or meta.get("format_version") != "1":
        raise ValueError("format %r version %r" % (meta.get("format"), meta.get("format_version")))
    cfg = json.loads(meta["recur"])
    data = raw[8 + n :]

    want = expected_tensors(cfg)
    if sorted(header) != sorted(name for name, _ in want):
        raise ValueError("tensors %s, config needs %s" % (sorted(header), [w for w, _ in want]))
    pos = 0
    arrays = {}
    for name, shape in want:  # written in this order, contiguous
        info = header[name]
        begin, end = info["data_offsets"]
        if info["dtype"] != "F32" or tuple(info["shape"]) != shape:
            raise ValueError("%s: %s %s, config needs F32 %s" % (name, info["dtype"], info["shape"], shape))
        if begin != pos or end - begin != 4 * int(np.prod(shape)):
            raise ValueError("%s: data_offsets %s, expected to start at %d" % (name, info["data_offsets"], pos))
        pos = end
        a = np.frombuffer(data, dtype="<f4", count=end // 4 - begin // 4, offset=begin).reshape(shape)
        if torch is not None:
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).reshape(shape)
            if not np.array_equal(t.numpy().view(np.uint32), a.view(np.uint32)):
                raise ValueError("%s: torch and numpy disagree" % name)
        arrays[name] = a
        print("  %-32s %-12s F32 sum %+.6e" % (name, "x".join(map(str, shape)), float(a.astype(np.float64).sum())))
    if pos != len(data):
        raise ValueError("%d bytes after the last tensor" % (len(data) - pos))
    if st_load_file is not None:
        loaded = st_load_file(path)
        for name, a in arrays.items():
            if not np.array_equal(loaded[name].view(np.uint32), a.view(np.uint32)):
                raise ValueError("%s: safetensors package disagrees" % name)
    layers = " ".join(l["kind"] + ("(%s)" % l.get("units", l.get("rate"))) for l in cfg["layers"])
    print("%s: ok: %d features, %s; %d tensors, %d parameters%s" % (
        path, cfg["n_features"], layers, len(want), len(data) // 4,
        "; pipeline %s" % cfg["pipeline"]["features"] if "pipeline" in cfg else ""))


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    print("numpy %s, torch %s, safetensors %s" % (
        np.__version__, torch.__version__ if torch is not None else "absent",
        "present" if st_load_file is not None else "absent"))
    for path in argv[1:]:
        try:
            check(path)
        except (ValueError, KeyError, TypeError) as e:
            print("%s: FAILED: %s" % (path, e))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
