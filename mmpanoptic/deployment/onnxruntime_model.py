"""An exported Panoptic FCN run by ONNX Runtime behind mmengine's model
interface, so that :class:`~mmpanoptic.apis.PanopticInferencer` (and any
caller of ``test_step``) uses it as the PyTorch model."""
import json
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmdet.structures import OptSampleList, SampleList
from mmengine.config import Config
from mmengine.model import BaseModel
from torch import Tensor

from .onnx_export import METADATA_KEY, ort_session
from .panoptic_fcn import PanopticFCNComposer


def session_metadata(session, onnx_file: str) -> Dict:
    """The ``mmpanoptic`` metadata of an ONNX Runtime session's model."""
    metadata = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in metadata:
        raise ValueError(f'{onnx_file} was not exported by mmpanoptic: its '
                         f'metadata has no {METADATA_KEY!r} entry')
    return json.loads(metadata[METADATA_KEY])


def pad_batch(inputs: Tensor, data_samples: SampleList,
              shape: Sequence[int]) -> Tensor:
    """Zero-pad a preprocessed batch (N, 3, H, W) at the bottom and right to
    ``shape`` (a graph exported for one size), as the data preprocessor pads
    it, and set the samples' ``batch_input_shape`` and ``pad_shape``."""
    height, width = (int(v) for v in shape)
    if inputs.shape[-2] > height or inputs.shape[-1] > width:
        raise ValueError(f'the image needs an input of '
                         f'{tuple(inputs.shape[-2:])}, larger than the '
                         f'{height}x{width} the graph was exported for')
    padded = F.pad(inputs,
                   (0, width - inputs.shape[-1], 0, height - inputs.shape[-2]))
    for sample in data_samples:
        sample.set_metainfo(
            dict(batch_input_shape=(height, width), pad_shape=(height, width)))
    return padded


class ONNXRuntimePanopticFCN(BaseModel):
    """A Panoptic FCN ``.onnx`` file (``tools/deployment/pytorch2onnx.py``)
    with the PyTorch model's ``test_step``: the config's data preprocessor,
    the graph in ONNX Runtime (CPU) image by image, then
    :class:`PanopticFCNComposer`; the data samples get
    ``pred_panoptic_seg``, ``pred_sem_seg`` and ``pred_instances`` as from
    ``PanopticFCN.predict``.

    Args:
        onnx_file (str): the exported file.
        data_preprocessor (dict, optional): the config's
            ``model.data_preprocessor``; None: the one of the config stored
            in the file.
        num_threads (int, optional): ONNX Runtime's intra-op threads.
    """

    def __init__(self,
                 onnx_file: str,
                 data_preprocessor: Optional[dict] = None,
                 num_threads: Optional[int] = None) -> None:
        session = ort_session(onnx_file, num_threads)
        export_meta = session_metadata(session, onnx_file)
        if data_preprocessor is None:
            data_preprocessor = Config.fromstring(
                export_meta['config'], '.py').model.data_preprocessor
        super().__init__(data_preprocessor=data_preprocessor)
        self.session = session
        self.export_meta = export_meta
        if self.export_meta.get('graph') != 'full':
            raise ValueError(
                f'{onnx_file} holds only the {self.export_meta.get("graph")}'
                f' of {self.export_meta.get("model")}: its RoI stage and '
                'panoptic fusion need mmcv operators and run in PyTorch '
                'from the checkpoint (see tools/deployment/README.md)')
        self.composer = PanopticFCNComposer(
            self.export_meta['num_things_classes'],
            self.export_meta['num_stuff_classes'],
            self.export_meta['test_cfg'])

    def run_graph(self, image: Tensor) -> tuple:
        """The graph's outputs for one preprocessed image (1, 3, H, W), as
        CPU tensors."""
        outputs = self.session.run(
            None, {'image': image.detach().cpu().float().numpy()})
        return tuple(torch.from_numpy(output) for output in outputs)

    def forward(self,
                inputs: Tensor,
                data_samples: OptSampleList = None,
                mode: str = 'predict') -> SampleList:
        if mode != 'predict':
            raise ValueError('an ONNX Runtime model only predicts; got '
                             f'mode={mode!r}')
        if data_samples is None or len(data_samples) != len(inputs):
            raise ValueError('one data sample (with its metainfo) per image '
                             'is needed')
        if self.export_meta.get('input_shape'):  # a static graph
            inputs = pad_batch(inputs, data_samples,
                               self.export_meta['input_shape'])
        for index, sample in enumerate(data_samples):
            result = self.composer(*self.run_graph(inputs[index:index + 1]),
                                   sample.metainfo)
            sample.pred_panoptic_seg = result['pan_results']
            sample.pred_sem_seg = result['sem_results']
            sample.pred_instances = result['ins_results']
        return data_samples
