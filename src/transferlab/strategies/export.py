"""Export a trained run to ONNX with its preprocessing in the model's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import TransferlabError
from ..models.artifacts import load_model
from ..paths import atomic_path


def export_onnx(run_dir: str | Path, out: str | Path, opset: int = 17) -> Path:
    """Write RUN_DIR's classifier as ONNX: input `image` (B, C, S, S) normalised, output `logits`.

    The metadata holds the class names, the exact preprocessing (resize, crop, mean/std) and the
    run's temperature (divide the logits by it before the softmax for calibrated probabilities).
    """
    import onnx

    loaded = load_model(run_dir)
    model = loaded.classifier.eval()
    if model.layer is not None:
        raise TransferlabError("ONNX export of a model tapping an inner layer is not supported; train without --layer")
    pre = loaded.preprocessing
    dummy = torch.zeros(1, len(pre.mean), pre.input_size, pre.input_size)
    out = Path(out)
    with atomic_path(out) as tmp:
        torch.onnx.export(model, (dummy,), str(tmp), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
        graph = onnx.load(str(tmp))
        metadata = {
            "classes": json.dumps(list(loaded.classes)),
            "preprocessing": json.dumps({**pre.to_dict(), "resize_size": pre.resize_size,
                                         "steps": "RGB/255; shorter side to resize_size; centre crop input_size; "
                                                  "(x-mean)/std; NCHW float32"}),
            "backbone": loaded.description["backbone"],
            "strategy": loaded.description["strategy"],
            "temperature": json.dumps(loaded.calibration.temperature),
        }
        for key, value in metadata.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))
    return out
