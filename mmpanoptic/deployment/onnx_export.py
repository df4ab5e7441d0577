"""ONNX export of mmpanoptic models (``torch.onnx``'s TorchScript exporter)
and the description stored in every exported file.

:func:`build_export_graph` picks what a model exports: Panoptic FCN whole
(:class:`PanopticFCNGraph`), the two-stage models up to their RoI stage
(:class:`TwoStageFeatureGraph`). :func:`export_onnx` traces it and writes
the ``.onnx`` file with the config, the class names and what the graph holds
in its metadata (key ``mmpanoptic``), which :func:`read_export_metadata`
reads back.

``onnx`` and ``onnxruntime`` are the optional ``deploy`` extra
(``pip install -e .[deploy]``); they are imported where they are used.
"""
import contextlib
import json
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .panoptic_fcn import PanopticFCNGraph
from .two_stage import TwoStageFeatureGraph

METADATA_KEY = 'mmpanoptic'
OPSET_VERSION = 17
DEPLOY_HINT = 'install the deploy extra: pip install -e ".[deploy]"'


def require(module_name: str):
    """Import ``onnx`` or ``onnxruntime``, or say how to install it."""
    try:
        return __import__(module_name)
    except ImportError as error:
        raise ImportError(f'{module_name} is needed for ONNX export and '
                          f'inference: {DEPLOY_HINT}') from error


def build_export_graph(model: nn.Module) -> Tuple[nn.Module, str]:
    """The exportable module of ``model`` and what it holds: ``'full'``
    (Panoptic FCN: image to mask probabilities) or ``'features'`` (UPSNet,
    AUNet, Unifying: backbone, neck, RPN head maps, semantic logits)."""
    from mmpanoptic.models.building_blocks.two_stage_panoptic import \
        TwoStagePanopticBase
    from mmpanoptic.models.panoptic_fcn.panoptic_fcn import PanopticFCN
    if isinstance(model, PanopticFCN):
        return PanopticFCNGraph(model).eval(), 'full'
    if isinstance(model, TwoStagePanopticBase):
        return TwoStageFeatureGraph(model).eval(), 'features'
    raise TypeError(f'no ONNX export for {type(model).__name__}: '
                    'PanopticFCN, UPSNet, AUNet and the Unifying model '
                    'export')


def _threshold_symbolic(g, x, thr, value):
    """``F.threshold`` (maskness rescoring) has no ONNX symbolic for a
    non-zero threshold: ``Where(x > thr, x, value)``."""
    dtype = torch.float32
    thr = g.op('Constant', value_t=torch.tensor(thr, dtype=dtype))
    value = g.op('Constant', value_t=torch.tensor(value, dtype=dtype))
    return g.op('Where', g.op('Greater', x, thr), x, value)


def _linspace_symbolic(g, start, end, steps, dtype, layout, device,
                       pin_memory):
    """``torch.linspace`` (the coordinates of CoordConv) as torch's own
    symbolic, with the step divided by ``max(steps - 1, 1)``: torch's
    divides by ``steps - 1`` and gives NaN for a 1-pixel level (P7 of a
    small image), where ``torch.linspace`` gives ``[start]``."""
    float32 = 1  # onnx.TensorProto.FLOAT
    zero = g.op('Constant', value_t=torch.tensor(0, dtype=torch.int64))
    one = g.op('Constant', value_t=torch.tensor(1, dtype=torch.int64))
    steps = g.op('Cast', steps, to_i=7)  # int64
    positions = g.op('Cast', g.op('Range', zero, steps, one), to_i=float32)
    intervals = g.op(
        'Cast', g.op('Max', g.op('Sub', steps, one), one), to_i=float32)
    start = g.op('Cast', start, to_i=float32)
    end = g.op('Cast', end, to_i=float32)
    step = g.op('Div', g.op('Sub', end, start), intervals)
    return g.op('Add', g.op('Mul', positions, step), start)


@contextlib.contextmanager
def _export_symbolics() -> Iterator[None]:
    """Symbolics of the two operators above, registered while exporting."""
    from torch.onnx import symbolic_helper
    symbolics = {
        'aten::threshold':
        symbolic_helper.parse_args('v', 'f', 'f')(_threshold_symbolic),
        'aten::linspace':
        _linspace_symbolic,
    }
    for name, symbolic in symbolics.items():
        torch.onnx.register_custom_op_symbolic(name, symbolic, OPSET_VERSION)
    try:
        yield
    finally:
        for name in symbolics:
            torch.onnx.unregister_custom_op_symbolic(name, OPSET_VERSION)


def export_onnx(graph: nn.Module,
                example: Tensor,
                out_file: str,
                output_names: Sequence[str],
                metadata: Dict,
                dynamic: bool = True) -> None:
    """Trace ``graph`` on ``example`` and write ``out_file``.

    Args:
        graph (nn.Module): :class:`PanopticFCNGraph` or
            :class:`TwoStageFeatureGraph`.
        example (Tensor): (1, 3, H, W) preprocessed image; with
            ``dynamic=False`` the graph only takes this size.
        out_file (str): the ``.onnx`` file.
        output_names (sequence of str): names of the graph's outputs.
        metadata (dict): stored as JSON under ``metadata_props['mmpanoptic']``.
        dynamic (bool): input height and width are dynamic axes.
    """
    onnx = require('onnx')
    if example.dim() != 4 or example.shape[0] != 1:
        raise ValueError('the example input must be one image (1, 3, H, W), '
                         f'got {tuple(example.shape)}')
    with torch.no_grad():
        outputs = graph(example)
    # every output axis may change with the image (and the number of
    # things or stuff found)
    dynamic_axes = {
        name: {
            axis: f'{name}_{axis}'
            for axis in range(output.dim())
        }
        for name, output in zip(output_names, outputs)
    }
    if dynamic:
        dynamic_axes['image'] = {2: 'height', 3: 'width'}
    with _export_symbolics(), torch.no_grad(), _quiet_export():
        torch.onnx.export(
            graph, (example, ),
            out_file,
            input_names=['image'],
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=OPSET_VERSION,
            do_constant_folding=True,
            dynamo=False)
    model = onnx.load(out_file)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(metadata)
    onnx.checker.check_model(model)
    onnx.save(model, out_file)


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """The TorchScript exporter warns that it is deprecated and that traced
    shapes become constants; the graphs here are written for it and the
    equality tests check them at several sizes."""
    import warnings
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        yield


def read_export_metadata(onnx_file: str) -> Dict:
    """The ``mmpanoptic`` metadata of an exported file (see
    :func:`export_onnx`)."""
    onnx = require('onnx')
    model = onnx.load(onnx_file, load_external_data=False)
    for entry in model.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    raise ValueError(f'{onnx_file} was not exported by mmpanoptic: its '
                     f'metadata has no {METADATA_KEY!r} entry')


def ort_session(onnx_file: str, num_threads: Optional[int] = None):
    """An ONNX Runtime CPU session of ``onnx_file``."""
    ort = require('onnxruntime')
    options = ort.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
    return ort.InferenceSession(
        onnx_file, options, providers=['CPUExecutionProvider'])


def export_metadata(model: nn.Module, graph: nn.Module, graph_kind: str,
                    config_text: str, dataset_meta: Dict) -> Dict:
    """What :func:`export_onnx` stores: the graph's kind and outputs, the
    config (its data preprocessor and test pipeline prepare the input), the
    classes and, for a full Panoptic FCN graph, what
    :class:`PanopticFCNComposer` needs."""
    metadata = dict(
        graph=graph_kind,
        model=type(model).__name__,
        input='image: (1, 3, H, W) float32, an image prepared by the '
        "config's test pipeline and model.data_preprocessor",
        outputs=list(graph.output_names),
        config=config_text,
        dataset_meta=dataset_meta)
    if graph_kind == 'features':
        metadata['min_input_side'] = graph.min_input_side
    if graph_kind == 'full':
        head = model.panoptic_head
        metadata.update(
            num_things_classes=head.num_things_classes,
            num_stuff_classes=head.num_stuff_classes,
            test_cfg=dict(head.test_cfg))
    return metadata
