"""Train the shipped example models on scikit-learn's digits and write them as ONNX.

This is the script that made every ``digits_*.onnx`` and ``digits_*.npz`` file beside
it; coforge itself never imports torch and tests never retrain. It ran, from the repo
root, in a separate venv (torch is not a coforge dependency):

    python3.11 -m venv build/torchvenv
    build/torchvenv/bin/pip install torch==2.13.0 numpy scikit-learn onnx onnxruntime
    build/torchvenv/bin/python dataflows/models/train_digits.py dataflows/models

with torch 2.13.0+cpu, numpy 2.4.6, scikit-learn 1.9.1, onnx 1.23.2 (onnxruntime 1.32.0
for the export check). Deterministic: ``SEED`` seeds the split, torch and the batch
order; one thread; ``torch.use_deterministic_algorithms(True)``.

Data: ``sklearn.datasets.load_digits()`` (1797 8x8 images, 10 classes), normalised as
part of the data: ``x = pixels / 16`` as float32, shape N x 1 x 8 x 8 (so the models
take the npz arrays as they are). Split: ``train_test_split(test_size=540,
stratify=y, random_state=SEED)`` gives test (540) and train (1257); calib is 200 of the
train samples (``train_test_split(train, train_size=200, stratify, random_state=SEED)``).
The models train on all 1257 train samples (calib is a subset of them, as calibration
data is in practice); the test samples are never seen in training.

Export: the ONNX graphs are built with ``onnx.helper`` from the trained numpy weights
(opset 17, input ``input`` of shape [N, 1, 8, 8] with symbolic batch ``N``, float32,
output ``logits`` or ``probs``), not with torch's exporter; BatchNormalization stays a
node (running statistics) so loaders exercise folding. Each file is checked against
torch's eval-mode output with onnxruntime before it is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
EPOCHS = 60
BATCH = 32
OPSET = 17


def split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train / calib / test as (x float32 N x 1 x 8 x 8 in [0, 1], y int64)."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=540, stratify=y,
                                              random_state=SEED)
    x_ca, _, y_ca, _ = train_test_split(x_tr, y_tr, train_size=200, stratify=y_tr,
                                        random_state=SEED)
    return {"train": (x_tr, y_tr), "calib": (x_ca, y_ca), "test": (x_te, y_te)}


def cnn() -> nn.Sequential:
    """conv3x3 8 + BN + relu, conv3x3 16 + relu, maxpool 2, flatten, fc 10."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


class DwSep(nn.Module):
    """MobileNet-style: stem conv, two depthwise-separable blocks (ReLU6 = Clip 0..6),
    a residual Add, global average pooling, fc 10."""

    def __init__(self) -> None:
        super().__init__()
        def block(conv: nn.Conv2d) -> nn.Sequential:
            return nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels), nn.ReLU6())
        self.stem = block(nn.Conv2d(1, 16, 3, padding=1, bias=False))
        self.dw1 = block(nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16, bias=False))
        self.pw1 = block(nn.Conv2d(16, 32, 1, bias=False))
        self.dw2 = block(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False))
        self.pw2 = block(nn.Conv2d(32, 32, 1, bias=False))
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.pw1(self.dw1(self.stem(x)))
        b = self.pw2(self.dw2(a)) + a
        return self.fc(b.mean(dim=(2, 3)))


def mlp() -> nn.Sequential:
    """flatten, fc 64 -> 32 + relu, fc 10 (exported as MatMul + Add, then Softmax)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def train(model: nn.Module, data: tuple[np.ndarray, np.ndarray]) -> nn.Module:
    x, y = (torch.from_numpy(a) for a in data)
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()


# -- ONNX by hand ---------------------------------------------------------------------------

class Graph:
    """A little builder: nodes, initializers, and the running activation name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.x = "input"

    def init(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, name: str, inputs: list[str], **attrs: object) -> str:
        out = f"{name}_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        self.x = out
        return out

    def conv(self, name: str, conv: nn.Conv2d, x: str | None = None) -> str:
        w = self.init(f"{name}.weight", conv.weight.detach().numpy())
        ins = [x or self.x, w]
        if conv.bias is not None:
            ins.append(self.init(f"{name}.bias", conv.bias.detach().numpy()))
        p = conv.padding
        return self.node("Conv", name, ins, kernel_shape=list(conv.kernel_size),
                         strides=list(conv.stride), pads=[p[0], p[1], p[0], p[1]],
                         dilations=list(conv.dilation), group=conv.groups)

    def bn(self, name: str, bn: nn.BatchNorm2d) -> str:
        ins = [self.x] + [self.init(f"{name}.{k}", getattr(bn, k).detach().numpy())
                          for k in ("weight", "bias", "running_mean", "running_var")]
        return self.node("BatchNormalization", name, ins, epsilon=bn.eps)

    def relu6(self, name: str) -> str:
        lo = self.init(f"{name}.min", np.array(0.0, np.float32))
        hi = self.init(f"{name}.max", np.array(6.0, np.float32))
        return self.node("Clip", name, [self.x, lo, hi])

    def gemm(self, name: str, fc: nn.Linear) -> str:
        return self.node("Gemm", name, [self.x, self.init(f"{name}.weight",
                                                          fc.weight.detach().numpy()),
                                        self.init(f"{name}.bias", fc.bias.detach().numpy())],
                         transB=1)

    def model(self, name: str, out_name: str) -> onnx.ModelProto:
        last = self.nodes[-1]
        last.output[0] = out_name
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
            [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", 10])],
            self.inits)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="coforge train_digits.py")
        proto.ir_version = 8
        onnx.checker.check_model(proto, full_check=True)
        return proto


def export_cnn(m: nn.Sequential) -> onnx.ModelProto:
    g = Graph()
    g.conv("conv1", m[0])
    g.bn("bn1", m[1])
    g.node("Relu", "relu1", [g.x])
    g.conv("conv2", m[3])
    g.node("Relu", "relu2", [g.x])
    g.node("MaxPool", "pool", [g.x], kernel_shape=[2, 2], strides=[2, 2])
    g.node("Flatten", "flatten", [g.x], axis=1)
    g.gemm("fc", m[7])
    return g.model("digits_cnn", "logits")


def export_dwsep(m: DwSep) -> onnx.ModelProto:
    g = Graph()
    for name in ("stem", "dw1", "pw1"):
        blk = getattr(m, name)
        g.conv(name, blk[0])
        g.bn(f"{name}_bn", blk[1])
        g.relu6(f"{name}_relu6")
    skip = g.x
    for name in ("dw2", "pw2"):
        blk = getattr(m, name)
        g.conv(name, blk[0])
        g.bn(f"{name}_bn", blk[1])
        g.relu6(f"{name}_relu6")
    g.node("Add", "residual", [g.x, skip])
    g.node("GlobalAveragePool", "gap", [g.x])
    g.node("Flatten", "flatten", [g.x], axis=1)
    g.gemm("fc", m.fc)
    return g.model("digits_dwsep", "logits")


def export_mlp(m: nn.Sequential) -> onnx.ModelProto:
    g = Graph()
    g.node("Flatten", "flatten", [g.x], axis=1)
    for i, (name, fc) in enumerate((("fc1", m[1]), ("fc2", m[3]))):
        w = g.init(f"{name}.weight", fc.weight.detach().numpy().T)  # C x K for x @ W
        g.node("MatMul", name, [g.x, w])
        g.node("Add", f"{name}_bias", [g.x, g.init(f"{name}.bias", fc.bias.detach().numpy())])
        if i == 0:
            g.node("Relu", "relu1", [g.x])
    g.node("Softmax", "softmax", [g.x], axis=-1)
    return g.model("digits_mlp", "probs")


def main(out_dir: str) -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = Path(out_dir)
    data = split()
    for part in ("test", "calib"):
        x, y = data[part]
        np.savez(out / f"digits_{part}.npz", x=x, y=y)
    x_te, y_te = data["test"]
    makers = {"digits_cnn": (cnn, export_cnn), "digits_dwsep": (DwSep, export_dwsep),
              "digits_mlp": (mlp, export_mlp)}
    for name, (make, export) in makers.items():
        torch.manual_seed(SEED)
        model = train(make(), data["train"])
        with torch.no_grad():
            ref = model(torch.from_numpy(x_te))
            if name == "digits_mlp":
                ref = torch.softmax(ref, dim=-1)
            ref = ref.numpy()
        proto = export(model)
        got = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None,
                                                                           {"input": x_te})[0]
        err = float(np.abs(got - ref).max())
        assert err < 1e-4, f"{name}: onnxruntime differs from torch by {err}"
        onnx.save(proto, out / f"{name}.onnx")
        acc = float((got.argmax(1) == y_te).mean())
        print(f"{name}: test top-1 {acc:.4f} (onnxruntime, {len(y_te)} samples), "
              f"max |ort - torch| {err:.2e}")
    print(f"torch {torch.__version__}, numpy {np.__version__}, scikit-learn "
          f"{sklearn.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).parent))
