"""Record onnxruntime's own post-training quantization of the shipped digits models.

    .venv/bin/python tests/peers/gen_ort_qdq_reference.py   # writes tests/data/ort_qdq_digits.json

onnxruntime ``quantize_static`` (QDQ format, QInt8 activations, per-channel QInt8
weights, MinMax calibration over dataflows/models/digits_calib.npz one sample at a time),
evaluated by onnxruntime on digits_test.npz; the float top-1 by onnxruntime beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from dataflows.dataset import load_npz, shipped
from dataflows.onnx_model import load_model
from mapper.accuracy import float_outputs_ort, ort_qdq_top1, top1

OUT = Path(__file__).resolve().parents[1] / "data" / "ort_qdq_digits.json"


def main() -> None:
    models = {}
    version = None
    for name in ("digits_cnn", "digits_dwsep", "digits_mlp"):
        path = shipped(f"{name}.onnx")
        m = load_model(path)
        te = load_npz(shipped("digits_test.npz"), m)
        ca = load_npz(shipped("digits_calib.npz"), m)
        q = ort_qdq_top1(path, te, ca)
        version = q["onnxruntime"]
        models[name] = {"float_top1": top1(float_outputs_ort(path, te.x), te.y),
                        "qdq_top1": q["top1"], "samples": len(te)}
    doc = {"tool": f"onnxruntime {version}", "scheme": q["scheme"],
           "generator": "tests/peers/gen_ort_qdq_reference.py", "models": models}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
