#!/bin/sh
# test_keras.sh -- the Keras commands end to end: import (with and without a
# pipeline), --model taking Keras files, predict --windows against the
# independent float64 outputs of ../shared/keras, export --keras checked by an
# independent reader (python3 + h5py + zipfile + json, SKIP when absent) and
# read back by import, train --init with the file's Adam state,
# --optimizer rmsprop-keras2 in checkpoints, and one-line refusals.
#
# Usage: sh tests/test_keras.sh [path/to/recur]    (RECUR_KERAS_DIR overrides ../shared/keras)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_keras.sh "$1"
KD=${RECUR_KERAS_DIR:-../shared/keras}
case $KD in /*) ;; *) KD=$(pwd)/$KD ;; esac
PY=/usr/bin/python3

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-keras.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1
head -n 401 "$SRC" > small.csv

# windows N T F: the README's x[n,t,f] = 0.5 + 0.4 sin(0.3 t + n + 0.7 f), one window per line
windows() {
    awk -v N="$1" -v T="$2" -v F="$3" 'BEGIN { for (n = 0; n < N; n++) { s = "";
        for (t = 0; t < T; t++) for (f = 0; f < F; f++) s = s (s == "" ? "" : ",") sprintf("%.17g", 0.5 + 0.4 * sin(0.3 * t + n + 0.7 * f));
        print s } }'
}
# close_to FILE EXPECTED.json: every line of FILE within 1e-5 of the output scale of "output"
close_to() {
    tr -d ' \n' < "$2" | sed 's/.*"output":\[\([^]]*\)\].*/\1/' | tr ',' '\n' > want.txt
    paste -d' ' "$1" want.txt | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > w) w = d;
        a = $2 < 0 ? -$2 : $2; if (a > s) s = a; n++ } END { exit !(n == 4 && w <= 1e-5 * s) }'
}

# ====== Real Keras files ======
if [ -r "$KD/arth.h5" ]; then
    for spec in "arth.h5 60 1" "bingqi.h5 90 1" "adjoa.keras 10 6" "rajeev_gru.h5 60 13"; do
        set -- $spec
        windows 4 "$2" "$3" > w.txt
        expect 0 "" "predict --windows $1" predict --model "$KD/$1" --windows w.txt
        check "$1: outputs within 1e-5 of the float64 reference" close_to out.txt "$KD/$1.expected.json"
    done
    expect 0 "" "summary of a .keras" summary --model "$KD/adjoa.keras"
    check "summary lists the Keras layer names" grep -q "lstm_1 (LSTM)" out.txt
    expect 0 "" "import without a pipeline" import "$KD/rajeev_gru.h5" --out gru.safetensors
    windows 4 60 13 > w.txt
    expect 0 "" "predict --windows with the imported model" predict --model gru.safetensors --windows w.txt
    check "imported model: same outputs" close_to out.txt "$KD/rajeev_gru.h5.expected.json"
    expect 1 "holds no data pipeline" "evaluate needs a pipeline" evaluate --model gru.safetensors --data small.csv
    expect 0 "" "import with --data" import "$KD/arth.h5" --out arth.safetensors --data small.csv --column Close
    check "import logs the timestep of the Keras input" grep -q "T=60" err.txt
    expect 0 "" "evaluate the imported model" evaluate --model arth.safetensors --data small.csv
    expect 2 "--features: the model takes 6 inputs" "import: columns must match the inputs" \
        import "$KD/adjoa.keras" --out x.safetensors --data small.csv
    expect 0 "" "train --init from a Keras file with its Adam state" train --data small.csv --init "$KD/arth.h5" \
        --optimizer adam --epochs 1 --out ft.safetensors --threads 1
    check "train --init reports the optimizer state" grep -q "optimizer state (620 iterations)" err.txt
    expect 2 "--init: not with --layers" "train: --init and --layers" train --data small.csv --init "$KD/arth.h5" \
        --layers "lstm(4) dense(1)" --out x.safetensors
    # A tf.keras 2 file truncated: one line, exit 1.
    head -c 300000 "$KD/bingqi.h5" > cut.h5
    expect 1 "not a readable HDF5 file" "truncated HDF5" summary --model cut.h5
else
    echo "SKIP: $KD not found: the real Keras files are not checked"
fi

# ====== export --keras, read back ======
expect 0 "" "train a small model" train --data small.csv --layers "gru(4,seq) lstm(3,seq) rnn(3) dropout(0.1) dense(3,relu) dense(1)" \
    --timestep 12 --epochs 1 --quiet --out m.safetensors --threads 1
expect 0 "" "export --keras" export --model m.safetensors --keras m.keras
windows 3 12 1 > w12.txt
"$R" predict --model m.safetensors --windows w12.txt > a.txt 2> err.txt
"$R" predict --model m.keras --windows w12.txt > b.txt 2>> err.txt
check "the exported .keras predicts what the model predicts" cmp -s a.txt b.txt
check "three windows, one output each" test "$(wc -l < b.txt)" -eq 3
expect 0 "" "evaluate straight from the .keras (the pipeline travels in metadata.json)" evaluate --model m.keras --data small.csv
expect 0 "" "import the exported file" import m.keras --out back.safetensors
"$R" predict --model back.safetensors --windows w12.txt > c.txt 2>> err.txt
check "import of the export: same outputs" cmp -s a.txt c.txt

if $PY -c "import h5py" 2> /dev/null; then
    cat > check.py << 'EOF'
# Independent reader: the .keras as Keras 3 lays it out, its weights equal to
# the model file's (safetensors: 8-byte length, JSON header, float32 data).
import io, json, struct, sys, zipfile
import h5py, numpy as np
z = zipfile.ZipFile(sys.argv[1])
names = [i.filename for i in z.infolist()]
assert sorted(names) == ["config.json", "metadata.json", "model.weights.h5"], names
assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
meta = json.loads(z.read("metadata.json"))
assert meta["keras_version"].startswith("3."), meta
cfg = json.loads(z.read("config.json"))
assert cfg["class_name"] == "Sequential" and cfg["module"] == "keras"
layers = cfg["config"]["layers"]
assert [l["class_name"] for l in layers] == ["InputLayer", "GRU", "LSTM", "SimpleRNN", "Dropout", "Dense", "Dense"]
assert layers[0]["config"]["batch_shape"] == [None, 12, 1], layers[0]
keys = {"GRU": {"units", "activation", "recurrent_activation", "use_bias", "return_sequences", "reset_after",
                "go_backwards", "stateful", "unroll", "dropout", "recurrent_dropout", "kernel_initializer"},
        "LSTM": {"units", "activation", "recurrent_activation", "unit_forget_bias", "return_sequences"},
        "SimpleRNN": {"units", "activation", "return_sequences"},
        "Dense": {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer"},
        "Dropout": {"rate", "noise_shape", "seed"}}
for l in layers[1:]:
    missing = keys[l["class_name"]] - set(l["config"])
    assert not missing, (l["class_name"], missing)
    assert l["module"] == "keras.layers" and l["config"]["name"]
assert layers[1]["config"]["reset_after"] is True and layers[1]["config"]["return_sequences"] is True
assert layers[3]["config"]["return_sequences"] is False and layers[5]["config"]["activation"] == "relu"
raw = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
def tensor(name):
    t = hdr[name]; a, b = t["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"])
h = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
groups = {"gru": "layers/gru/cell/vars", "lstm": "layers/lstm/cell/vars", "simple_rnn": "layers/simple_rnn/cell/vars",
          "dense": "layers/dense/vars", "dense_1": "layers/dense_1/vars"}
shapes = {"gru": [(1, 12), (4, 12), (2, 12)], "lstm": [(4, 12), (3, 12), (12,)], "simple_rnn": [(3, 3), (3, 3), (3,)],
          "dense": [(3, 3), (3,)], "dense_1": [(3, 1), (1,)]}
kinds = ["kernel", "recurrent_kernel", "bias"]
for layer, g in groups.items():
    for k, shape in enumerate(shapes[layer]):
        d = h[g + "/" + str(k)]
        assert d.shape == shape and d.dtype == np.float32, (g, k, d.shape, d.dtype)
        kind = kinds[k] if len(shapes[layer]) == 3 else ["kernel", "bias"][k]
        assert np.array_equal(d[()], tensor(layer + "." + kind)), (layer, kind)
assert "layers/dropout/vars" in h and "vars" in h
assert layers[4]["config"]["rate"] == 0.1, layers[4]["config"]["rate"]
# Same keys as a file Keras 3.4.1 itself wrote (argv[3], when present).
if len(sys.argv) > 3:
    real = json.loads(zipfile.ZipFile(sys.argv[3]).read("config.json"))
    assert set(real) - {"compile_config"} == set(cfg), (set(real), set(cfg))
    assert set(real["config"]) == set(cfg["config"])
    ours = {l["class_name"]: l for l in layers}
    for l in real["config"]["layers"]:
        o = ours[l["class_name"]]
        assert set(l) == set(o), (l["class_name"], set(l) ^ set(o))
        assert set(l["config"]) == set(o["config"]), (l["class_name"], set(l["config"]) ^ set(o["config"]))
        for key, v in l["config"].items():
            if isinstance(v, dict) and "class_name" in v:
                assert v["class_name"] == o["config"][key]["class_name"], (key, v, o["config"][key])
    print("same config keys as Keras 3.4.1's own file")
print("independent reader: ok")
EOF
    real=""
    [ -r "$KD/adjoa.keras" ] && real="$KD/adjoa.keras"
    check "independent reader (h5py) accepts the .keras" $PY check.py m.keras m.safetensors $real
    # The same model in tf.keras 2's HDF5 layout (fixed-length strings, ":0"
    # names, no InputLayer, Adam state m/v), written with h5py.
    cat > legacy.py << 'EOF'
import io, json, sys, zipfile
import h5py, numpy as np
z = zipfile.ZipFile(sys.argv[1])
cfg = json.loads(z.read("config.json"))
w = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
layers = cfg["config"]["layers"][1:]
conf = {"class_name": "Sequential", "config": {"name": "sequential", "layers": []}}
for i, l in enumerate(layers):
    c = dict(l["config"], dtype="float32")
    if i == 0:
        c["batch_input_shape"] = [None, 12, 1]
    conf["config"]["layers"].append({"class_name": l["class_name"], "config": c})
f = h5py.File(sys.argv[2], "w")
f.attrs["keras_version"] = np.bytes_("2.3.0-tf")
f.attrs["model_config"] = np.bytes_(json.dumps(conf))
f.attrs["training_config"] = np.bytes_(json.dumps({"optimizer_config": {"class_name": "Adam", "config": {}}}))
mw, opt = f.create_group("model_weights"), f.create_group("optimizer_weights")
names = [l["config"]["name"] for l in layers]
mw.attrs["layer_names"] = np.array([n.encode() for n in names])
opt.create_dataset("iter:0", data=np.int64(7))
ms, vs = [], []
for l, n in zip(layers, names):
    g = mw.create_group(n)
    rnn = l["class_name"] != "Dense"
    kinds = ["kernel", "recurrent_kernel", "bias"] if rnn else ["kernel", "bias"]
    if l["class_name"] == "Dropout":
        g.attrs["weight_names"] = np.array([], dtype="f8")
        continue
    wn = []
    for k, kind in enumerate(kinds):
        src = w["layers/%s/%svars/%d" % (n, "cell/" if rnn else "", k)][()]
        name = "%s/%s%s:0" % (n, n + "_cell/" if rnn else "", kind)
        g.create_dataset(name, data=src)
        wn.append(name.encode())
        opt.create_dataset(name[:-2] + "/m:0", data=np.full(src.shape, 0.01, "f4"))
        opt.create_dataset(name[:-2] + "/v:0", data=np.full(src.shape, 0.02, "f4"))
        ms.append((name[:-2] + "/m:0").encode())
        vs.append((name[:-2] + "/v:0").encode())
    g.attrs["weight_names"] = np.array(wn)
opt.attrs["weight_names"] = np.array([b"iter:0"] + ms + vs)
EOF
    if $PY legacy.py m.keras legacy.h5; then
        "$R" predict --model legacy.h5 --windows w12.txt > d.txt 2>> err.txt
        check "a tf.keras 2 style HDF5 file predicts what the model predicts" cmp -s a.txt d.txt
        expect 0 "" "train --init from the tf.keras 2 file" train --data small.csv --init legacy.h5 --timestep 12 \
            --optimizer adam --epochs 1 --out l.safetensors --threads 1
        check "its Adam state is loaded" grep -q "optimizer state (7 iterations)" err.txt
    else
        bad "legacy.py could not write the tf.keras 2 style file"
    fi
else
    echo "SKIP: python3 h5py not found: the written .keras is not checked by an independent reader"
fi

# ====== hard_sigmoid gates, against an independent numpy forward pass ======
# bingqi.h5 (tf.keras 2.3.0) with its LSTMs' recurrent_activation edited to
# hard_sigmoid (Keras 2's: clip(0.2x + 0.5)), and the same weights written as
# a Keras 3 file (hard_sigmoid = relu6(x + 3) / 6): recur's predictions
# against numpy's float64 forward pass of each formula.
if [ -r "$KD/bingqi.h5" ] && $PY -c "import h5py, numpy" 2> /dev/null; then
    cat > hard.py << 'EOF_PY'
import json, shutil, sys
import h5py, numpy as np
src, out2, mode = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.copyfile(src, out2)
f = h5py.File(out2, "r+")
cfg = json.loads(f.attrs["model_config"])
for L in cfg["config"]["layers"]:
    if L["class_name"] == "LSTM":
        L["config"]["recurrent_activation"] = "hard_sigmoid"
f.attrs["model_config"] = json.dumps(cfg)
if mode == "k3":
    f.attrs["keras_version"] = "3.4.1"
hs = (lambda x: np.clip(0.2 * x + 0.5, 0, 1)) if mode == "k2" else (lambda x: np.clip(x + 3, 0, 6) / 6)
def weights(name):
    g = f["model_weights"][name]
    return [np.array(g[n], dtype=np.float64) for n in [x.decode() if isinstance(x, bytes) else x for x in g.attrs["weight_names"]]]
T, N = 90, 4
x = np.array([[[0.5 + 0.4 * np.sin(0.3 * t + n + 0.7 * 0)] for t in range(T)] for n in range(N)])
h = x
for L in cfg["config"]["layers"]:
    c, name = L["class_name"], L["config"]["name"]
    if c == "LSTM":
        W, U, b = weights(name)
        H = U.shape[0]
        hs_, cs = np.zeros((N, H)), np.zeros((N, H))
        seq = []
        for t in range(h.shape[1]):
            z = h[:, t, :] @ W + hs_ @ U + b
            i, fg, g, o = hs(z[:, :H]), hs(z[:, H:2*H]), np.tanh(z[:, 2*H:3*H]), hs(z[:, 3*H:])
            cs = fg * cs + i * g
            hs_ = o * np.tanh(cs)
            seq.append(hs_)
        h = np.stack(seq, 1) if L["config"]["return_sequences"] else hs_
    elif c == "Dense":
        W, b = weights(name)
        h = h @ W + b
f.close()
for v in h[:, 0]:
    print("%.17g" % v)
EOF_PY
    windows 4 90 1 > w90.txt
    for mode in k2 k3; do
        if $PY hard.py "$KD/bingqi.h5" hard_$mode.h5 $mode > want_$mode.txt 2> py.err; then
            expect 0 "" "predict with hard_sigmoid gates ($mode)" predict --model hard_$mode.h5 --windows w90.txt
            check "hard_sigmoid ($mode): recur within 1e-5 of numpy's float64 forward pass" sh -c "paste -d' ' out.txt want_$mode.txt |
                awk '{ d = \$1 - \$2; if (d < 0) d = -d; if (d > w) w = d; a = \$2 < 0 ? -\$2 : \$2; if (a > s) s = a; n++ }
                     END { exit !(n == 4 && w <= 1e-5 * s) }'"
        else
            bad "hard.py ($mode) failed: $(head -c 300 py.err)"
        fi
    done
    check "Keras 2 and Keras 3 hard_sigmoid differ on these windows" sh -c "! cmp -s want_k2.txt want_k3.txt"
    expect 0 "" "summary shows the Keras 2 gates" summary --model hard_k2.h5
    check "the spec names hard_sigmoid_k2" grep -q "hard_sigmoid_k2" out.txt
    expect 0 "" "import keeps the gates" import hard_k3.h5 --out hard.safetensors
    expect 0 "" "export --keras of Keras 3 hard_sigmoid gates" export --model hard.safetensors --keras hard3.keras
    expect 1 "Keras 3 has no name for" "export --keras refuses Keras 2's hard_sigmoid" export --model hard_k2.h5 \
        --keras hard2.keras
else
    echo "SKIP: ../shared/keras/bingqi.h5 or python3 h5py/numpy missing: hard_sigmoid is not checked against numpy"
fi

# ====== rmsprop-keras2 ======
expect 0 "" "train with rmsprop-keras2 and a checkpoint" train --data small.csv --layers "lstm(4) dense(1)" --timestep 10 \
    --optimizer rmsprop-keras2 --epochs 1 --quiet --checkpoint c.ckpt --out k2.safetensors --threads 1
expect 0 "" "summary of the checkpoint" summary --model c.ckpt
check "the checkpoint records rmsprop-keras2" grep -q "rmsprop-keras2" out.txt

# ====== Refusals: one line, exit 1 (2 for usage) ======
head -c 5000 m.keras > cut.keras
expect 1 "not a readable .keras (zip) file" "truncated .keras" predict --model cut.keras --windows w12.txt
expect 1 "not a Keras file" "import of a CSV" import small.csv --out x.safetensors
expect 1 "cannot open" "import of a missing file" import nothere.h5 --out x.safetensors
printf '0.1,0.2,oops\n' > badw.txt
expect 1 "badw.txt:1: \"oops\" is not a finite number" "predict --windows: a bad number" \
    predict --model m.keras --windows badw.txt
expect 2 "--windows: not with --data" "predict --windows with --data" predict --model m.keras --windows w12.txt --data small.csv
expect 2 "FILE: missing" "import without a file" import --out x.safetensors

echo "test_keras.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
