"""ONNX export: the exported graphs in ONNX Runtime equal PyTorch, at two
input sizes of one dynamic graph, and at the size of a static one."""
import copy

import numpy as np
import pytest
import torch

from mmpanoptic.deployment import (ONNXRuntimePanopticFCN, build_export_graph,
                                   export_metadata, export_onnx,
                                   read_export_metadata)
from mmpanoptic.deployment.onnx_export import ort_session
from mmpanoptic.deployment.onnxruntime_model import pad_batch

from .synthetic_models import (random_fcn_model, random_model, sample,
                               synthetic_config)

DATASET_META = dict(classes=('a', 'b'), thing_classes=('a', ))


def _export(model, path, example, dynamic=True):
    graph, kind = build_export_graph(model)
    metadata = export_metadata(model, graph, kind, model_config_text(),
                               DATASET_META)
    export_onnx(graph, example, str(path), graph.output_names, metadata,
                dynamic)
    return graph, kind


def model_config_text():
    return synthetic_config().pretty_text


@pytest.fixture(scope='module')
def fcn_onnx(tmp_path_factory):
    model = random_fcn_model()
    path = tmp_path_factory.mktemp('onnx') / 'panoptic_fcn.onnx'
    torch.manual_seed(5)
    _export(model, path, torch.randn(1, 3, 128, 160))
    return model, str(path)


@pytest.mark.parametrize('batch_shape, img_shape, ori_shape', [
    ((96, 128), (96, 120), (96, 120)),
    ((64, 96), (60, 90), (80, 120)),
])
def test_panoptic_fcn_onnx_runtime_equals_pytorch(fcn_onnx, batch_shape,
                                                  img_shape, ori_shape):
    """One graph exported at 128x160 with dynamic axes, run at two other
    sizes (P7 of 64x96 is 1x1: a 1-step CoordConv linspace)."""
    model, path = fcn_onnx
    ort_model = ONNXRuntimePanopticFCN(path)
    torch.manual_seed(2)
    image = torch.randn(1, 3, *batch_shape)
    data_sample = sample(batch_shape, img_shape, ori_shape)
    with torch.no_grad():
        expected = model.predict(image, [copy.deepcopy(data_sample)])[0]
        graph_outputs = build_export_graph(model)[0](image)
    exported = ort_model.run_graph(image)
    for name, ref, out in zip(ort_model.export_meta['outputs'], graph_outputs,
                              exported):
        assert ref.shape == out.shape, name
        assert torch.allclose(ref.float(), out.float(), atol=1e-4), name
    result = ort_model(image, [copy.deepcopy(data_sample)])[0]
    panoptic = expected.pred_panoptic_seg.sem_seg
    labels = panoptic % 1000
    assert (panoptic >= 1000).any() and ((labels >= 4) & (labels < 8)).any()
    same = (result.pred_panoptic_seg.sem_seg == panoptic).float().mean()
    assert same >= 0.999
    assert torch.allclose(
        result.pred_instances.scores,
        expected.pred_instances.scores,
        atol=1e-3)
    assert torch.equal(result.pred_instances.labels,
                       expected.pred_instances.labels)


def test_metadata_and_clear_errors(fcn_onnx, tmp_path):
    model, path = fcn_onnx
    metadata = read_export_metadata(path)
    head = model.panoptic_head
    assert metadata['graph'] == 'full' and metadata['model'] == 'PanopticFCN'
    assert (metadata['num_things_classes'],
            metadata['num_stuff_classes']) == (4, 4)
    assert metadata['test_cfg']['panoptic_thing_score_thr'] == 0.0
    assert metadata['test_cfg']['mask_thr'] == head.test_cfg['mask_thr']
    assert metadata['dataset_meta'] == dict(
        classes=['a', 'b'], thing_classes=['a'])
    with pytest.raises(TypeError, match='no ONNX export for Linear'):
        build_export_graph(torch.nn.Linear(2, 2))

    other = str(tmp_path / 'plain.onnx')
    torch.onnx.export(
        torch.nn.Linear(2, 2), (torch.zeros(1, 2), ), other, dynamo=False)
    with pytest.raises(ValueError, match='not exported by mmpanoptic'):
        read_export_metadata(other)
    with pytest.raises(ValueError, match='predicts'):
        ONNXRuntimePanopticFCN(path)(torch.zeros(1, 3, 64, 64), None, 'loss')


def test_static_graph_pads_smaller_images(tmp_path):
    model = random_fcn_model()
    path = tmp_path / 'static.onnx'
    graph, _ = _export(model, path, torch.zeros(1, 3, 64, 96), dynamic=False)
    session = ort_session(str(path))
    assert session.get_inputs()[0].shape == [1, 3, 64, 96]
    # the ONNX Runtime model pads a 64x64 batch to 64x96, as PyTorch's
    # data preprocessor would for a batch with a 64x96 image
    torch.manual_seed(3)
    image = torch.randn(1, 3, 64, 64)
    ort_model = ONNXRuntimePanopticFCN(str(path))
    ort_model.export_meta['input_shape'] = [64, 96]
    result = ort_model(image, [sample((64, 64), (60, 64))])[0]
    padded = torch.cat([image, torch.zeros(1, 3, 64, 32)], dim=3)
    with torch.no_grad():
        expected = model.predict(padded, [sample((64, 96), (60, 64))])[0]
    assert torch.equal(result.pred_panoptic_seg.sem_seg,
                       expected.pred_panoptic_seg.sem_seg)
    samples = [sample((64, 64))]
    assert pad_batch(image, samples, (64, 96)).shape == (1, 3, 64, 96)
    assert samples[0].batch_input_shape == (64, 96)
    with pytest.raises(ValueError, match='larger than the 64x96'):
        pad_batch(torch.zeros(1, 3, 96, 96), [sample((96, 96))], (64, 96))


def test_upsnet_features_onnx_runtime_equals_pytorch(tmp_path):
    """UPSNet up to its RoI stage: FPN levels, RPN maps, semantic logits of
    its deformable head (grid-sample deformable convs), at two sizes."""
    model = random_model(
        synthetic_config('upsnet_r18_fpn_1xb4-800i_synthetic'))
    path = tmp_path / 'upsnet.onnx'
    graph, kind = _export(model, path, torch.randn(1, 3, 96, 128))
    assert kind == 'features' and graph.output_names[-1] == 'seg_logits'
    session = ort_session(str(path))
    assert [o.name for o in session.get_outputs()] == list(graph.output_names)
    for shape in ((1, 3, 128, 96), (1, 3, 96, 160)):
        image = torch.randn(shape)
        with torch.no_grad():
            expected = graph(image)
        exported = session.run(None, {'image': image.numpy()})
        for name, ref, out in zip(graph.output_names, expected, exported):
            ref = ref.numpy()
            scale = max(np.abs(ref).max(), 1e-6)
            assert out.shape == ref.shape, name
            assert np.abs(out - ref).max() <= 1e-4 * scale, name
    assert read_export_metadata(str(path))['min_input_side'] == 96
    with pytest.raises(ValueError, match='smaller than 96 px'):
        graph(torch.zeros(1, 3, 64, 128))
    with pytest.raises(ValueError, match='RoI stage'):
        ONNXRuntimePanopticFCN(str(path))


def test_aunet_exports_no_semantic_logits():
    """AUNet's background branch takes RoI mask maps (MAM): its graph
    stops at the RPN maps."""
    model = random_model(synthetic_config('aunet_r18_fpn_1xb4-800i_synthetic'))
    graph, kind = build_export_graph(model)
    assert kind == 'features' and not graph.with_semantic
    assert graph.output_names[-1].startswith('rpn_reg_')
    with torch.no_grad():
        outputs = graph(torch.randn(1, 3, 64, 64))
    assert len(outputs) == len(graph.output_names)
