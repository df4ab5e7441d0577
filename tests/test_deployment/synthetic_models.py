"""Randomly initialised synthetic models for the deployment tests."""
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

FCN_CONFIG = 'panoptic-fcn_r18_fpn_1xb4-800i_synthetic'
# thresholds low enough that random weights give things and stuff
FCN_TEST_CFG = dict(
    stuff_score_thr=0.05, panoptic_thing_score_thr=0.0, mask_thr=0.6)


def synthetic_config(name: str = FCN_CONFIG, **test_cfg) -> Config:
    cfg = Config.fromfile(find_config(name))
    if test_cfg:
        cfg.model.test_cfg.update(test_cfg)
    return cfg


def random_model(cfg: Config, seed: int = 0) -> torch.nn.Module:
    """``cfg.model`` with its own initialisation, seeded, in eval mode."""
    register_all_modules()
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def random_fcn_model(seed: int = 0) -> torch.nn.Module:
    """The synthetic Panoptic FCN with :data:`FCN_TEST_CFG` and kernel maps
    spread out (N(0, 0.2) output conv instead of N(0, 0.01)), so that random
    weights give things of different shapes, stuff and VOID."""
    model = random_model(synthetic_config(**FCN_TEST_CFG), seed)
    torch.manual_seed(seed)
    model.panoptic_head.kernel_head.out_conv.weight.data.normal_(0, 0.2)
    return model


def sample(batch_shape, img_shape=None, ori_shape=None) -> DetDataSample:
    """A data sample of an image of ``img_shape`` padded to
    ``batch_shape``, originally ``ori_shape``."""
    img_shape = tuple(img_shape or batch_shape)
    return DetDataSample(
        metainfo=dict(
            batch_input_shape=tuple(batch_shape),
            pad_shape=tuple(batch_shape),
            img_shape=img_shape,
            ori_shape=tuple(ori_shape or img_shape),
            scale_factor=(1.0, 1.0)))


def export_synthetic_fcn(cfg: Config, out_dir: str,
                         dataset_meta: dict) -> tuple:
    """:func:`random_fcn_model` (with ``cfg``'s data) as a checkpoint and
    as an ``.onnx`` file (dynamic input size) in ``out_dir``.

    Returns:
        tuple[str, str]: the checkpoint and the ``.onnx`` file.
    """
    import os.path as osp

    from mmpanoptic.deployment import (build_export_graph, export_metadata,
                                       export_onnx)
    model = random_fcn_model()
    checkpoint = osp.join(out_dir, 'panoptic_fcn.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dataset_meta)), checkpoint)
    onnx_file = osp.join(out_dir, 'panoptic_fcn.onnx')
    graph, kind = build_export_graph(model)
    export_onnx(
        graph, torch.zeros(1, 3, 96, 128), onnx_file, graph.output_names,
        export_metadata(model, graph, kind, cfg.pretty_text, dataset_meta))
    return checkpoint, onnx_file
