"""ONNX export and ONNX Runtime inference (the ``deploy`` extra; ``onnx``
and ``onnxruntime`` are imported where they are used)."""
from .onnx_export import (build_export_graph, export_metadata, export_onnx,
                          read_export_metadata)
from .onnxruntime_model import ONNXRuntimePanopticFCN
from .panoptic_fcn import PanopticFCNComposer, PanopticFCNGraph
from .two_stage import TwoStageFeatureGraph

__all__ = [
    'PanopticFCNGraph', 'PanopticFCNComposer', 'TwoStageFeatureGraph',
    'ONNXRuntimePanopticFCN', 'build_export_graph', 'export_metadata',
    'export_onnx', 'read_export_metadata'
]
