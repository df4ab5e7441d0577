"""tools/analysis_tools/benchmark.py: helpers and a tiny side-by-side run."""

import pytest
import torch
from mmcv.ops import DeformConv2dPack
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData

from ..conftest import load_script


def _load_tool():
    return load_script('tools/analysis_tools/benchmark.py')


def test_force_detections_rewrites_thresholds_recursively():
    tool = _load_tool()
    test_cfg = dict(
        rpn=dict(max_per_img=1000, nms=dict(iou_threshold=0.7)),
        rcnn=dict(score_thr=0.6, max_per_img=100),
        panoptic=dict(stuff_area_limit=4096),
        center_score_thr=0.05, max_things=100)
    tool.force_detections(test_cfg, 7)
    assert test_cfg['center_score_thr'] == 0.0
    assert test_cfg['max_things'] == 7
    assert test_cfg['rcnn'] == dict(score_thr=0.0, max_per_img=7)
    assert test_cfg['rpn']['max_per_img'] == 7
    assert test_cfg['panoptic'] == dict(stuff_area_limit=4096)


def test_drop_pretrained_only_removes_pretrained():
    tool = _load_tool()
    cfg = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='x')),
               head=dict(init_cfg=dict(type='Normal', std=0.01)))
    tool.drop_pretrained(cfg)
    assert cfg['backbone']['init_cfg'] is None
    assert cfg['head']['init_cfg'] == dict(type='Normal', std=0.01)


def test_count_thing_segments():
    tool = _load_tool()
    sample = DetDataSample()
    # stuff 5, things 1+1000, 1+2000, 3+3000, VOID 8
    sem = torch.tensor([[[5, 1001, 2001], [3003, 8, 5]]])
    sample.pred_panoptic_seg = PixelData(sem_seg=sem)
    assert tool.count_thing_segments(sample) == 3


def test_random_weights_come_from_the_seed():
    tool = _load_tool()
    from mmpanoptic.utils import register_all_modules
    register_all_modules()

    def weights(seed):
        model = tool.build_model(
            'panoptic-fcn_r18_fpn_1xb4-800i_synthetic',
            None,
            5,
            'cpu',
            seed=seed)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    first, again, other = weights(0), weights(0), weights(1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_side_by_side_run_reports_every_column():
    tool = _load_tool()
    from mmpanoptic.utils import register_all_modules
    register_all_modules()
    models = {
        name:
        tool.build_model('panoptic-fpn_r18_fpn_1xb4-800i_synthetic', None, 5,
                         'cpu')
        for name in ('a', 'b')
    }
    summary = tool.benchmark(models, (64, 96), runs=1, warmup=0,
                             device='cpu')
    for record in summary.values():
        assert record['latency_s'] > 0
        assert 0 <= record['postprocess_share'] <= 1
        assert record['dcn_share'] == 0  # Panoptic FPN has no DCN
        assert record['postprocess_methods'] == [
            'panoptic_fusion_head.predict'
        ]
        assert record['params_m'] > 1
    # the wrappers are removed afterwards
    assert 'predict' not in vars(models['a'].panoptic_fusion_head)


class _Head(torch.nn.Module):

    def predict(self, x):
        return x * 2


class _Net(torch.nn.Module):
    """A deformable conv, then a head whose ``predict`` post-processes."""

    def __init__(self):
        super().__init__()
        self.dcn = DeformConv2dPack(2, 2, 3, padding=1)
        self.head = _Head()

    def forward(self, x):
        return self.head.predict(self.dcn(x))


def test_section_timer_times_deformable_convs_and_given_methods():
    tool = _load_tool()
    net = _Net()
    with tool.SectionTimer(net, postprocess_methods=['head.predict']) \
            as timer:
        net(torch.rand(1, 2, 8, 8))
    assert timer.postprocess_methods == ('head.predict', )
    assert timer.seconds['dcn'] > 0
    assert timer.seconds['postprocess'] > 0
    timer.reset()
    net(torch.rand(1, 2, 8, 8))  # hooks removed: nothing accumulates
    assert timer.seconds == dict(postprocess=0.0, dcn=0.0)
    assert 'predict' not in vars(net.head)


def test_section_timer_takes_the_methods_from_the_table(monkeypatch):
    tool = _load_tool()
    monkeypatch.setitem(tool.POSTPROCESS_METHODS, '_Net', ('head.predict', ))
    net = _Net()
    with tool.SectionTimer(net) as timer:
        net(torch.rand(1, 2, 8, 8))
    assert timer.postprocess_methods == ('head.predict', )
    assert timer.seconds['postprocess'] > 0


def test_section_timer_ignores_a_model_attribute():
    # what is timed is the benchmark's knowledge, not the model's
    tool = _load_tool()

    class Declaring(_Net):
        postprocess_methods = ('head.predict', )

    net = Declaring()
    with tool.SectionTimer(net) as timer:
        net(torch.rand(1, 2, 8, 8))
    assert timer.postprocess_methods == ()
    assert timer.seconds['postprocess'] == 0.0
    assert timer.seconds['dcn'] > 0


def test_section_timer_names_a_listed_method_the_model_lacks():
    tool = _load_tool()
    timer = tool.SectionTimer(_Net(), postprocess_methods=['fusion.predict'])
    with pytest.raises(AttributeError, match="'fusion.predict'"):
        with timer:
            pass


@pytest.mark.parametrize('config, model_class', [
    ('panoptic-fpn_r18_fpn_1xb4-800i_synthetic', 'PanopticFPN'),
    ('upsnet_r18_fpn_1xb4-800i_synthetic', 'UPSNet'),
    ('aunet_r18_fpn_1xb4-800i_synthetic', 'AUNet'),
    ('unifying_r18_fpn_1xb4-800i_synthetic', 'UnifyingPanopticSegmentor'),
    ('panoptic-fcn_r18_fpn_1xb4-800i_synthetic', 'PanopticFCN'),
])
def test_table_names_each_models_post_processing(config, model_class):
    """Every model of the table has the methods listed for it, and its
    prediction goes through them."""
    tool = _load_tool()
    from mmpanoptic.utils import register_all_modules
    register_all_modules()
    model = tool.build_model(config, None, 5, 'cpu')
    assert type(model).__name__ == model_class
    summary = tool.benchmark({config: model}, (64, 64), runs=1, warmup=0,
                             device='cpu')
    record = summary[config]
    assert record['postprocess_methods'] == list(
        tool.POSTPROCESS_METHODS[model_class])
    assert record['postprocess_share'] > 0


def test_cpu_peak_memory_counts_what_the_block_keeps():
    # after an earlier run freed memory (interleaved models in one process)
    tool = _load_tool()
    earlier = [torch.ones(1000, 1000) for _ in range(25)]  # 100 MB
    del earlier
    with tool.peak_memory('cpu') as memory:
        kept = [torch.ones(1000, 1000) for _ in range(12)]  # 48 MB
    assert memory['peak'] >= 40 * 2**20
    assert memory['peak'] < 400 * 2**20
    del kept
