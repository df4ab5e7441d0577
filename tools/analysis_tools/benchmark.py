"""Inference benchmark of one model, or two side by side in one run.

    python tools/analysis_tools/benchmark.py CONFIG [--compare CONFIG2] \
        --shape 800 1216 [--runs 10] [--warmup 2] [--force-dets 100] \
        [--cfg-options k=v ...] [--compare-cfg-options k=v ...] [--json F]

For each model (randomly initialised: latency does not depend on weights,
except through the number of detections, which ``--force-dets`` fixes) it
reports the median latency over ``--runs`` after ``--warmup`` runs, images/s,
the peak memory added by inference (in one extra run after the timed ones;
CUDA: max allocated; CPU: peak RSS above the level before the run, sampled
every millisecond, after freed memory is returned to the OS), parameters,
and the share of time spent in

- post-processing: the methods listed for the model's class in
  ``POSTPROCESS_METHODS`` below (dotted paths relative to the model, e.g.
  ``('panoptic_fusion_head.predict',)``); a class that is not listed has
  none timed;
- mmcv deformable convolutions (DeformConv2d, ModulatedDeformConv2d).

With ``--compare`` the two models run alternately (A, B, A, B, ...) so that
machine drift hits both equally, and the latency ratio A/B is printed.
CONFIG may be a path or the name of an mmpanoptic config.
"""
import argparse
import ctypes
import functools
import gc
import json
import os
import statistics
import threading
import time
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence

import torch
from mmcv.ops import DeformConv2d, ModulatedDeformConv2d
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

# The methods timed as post-processing, by model class name (dotted paths
# relative to the model). A class without an entry has none timed.
POSTPROCESS_METHODS = {
    'PanopticFPN': ('panoptic_fusion_head.predict', ),  # mmdet
    'UPSNet': ('panoptic_fusion_head.predict', ),
    'AUNet': ('panoptic_fusion_head.predict', ),
    'UnifyingPanopticSegmentor': ('panoptic_fusion_head.predict', ),
    'PanopticFCN': ('panoptic_head.predict_by_feat', ),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file path or name')
    parser.add_argument('--compare', help='second config, timed alternately')
    parser.add_argument('--shape', type=int, nargs=2, default=[800, 1216],
                        metavar=('H', 'W'), help='input image size')
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--force-dets', type=int, default=None, metavar='N',
        help='set every score threshold in test_cfg to 0 and every '
        'max_per_img to N, so random weights still give ~N detections')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides for CONFIG')
    parser.add_argument('--compare-cfg-options', nargs='+',
                        action=DictAction, help='overrides for --compare')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random weights (default 0)')
    parser.add_argument('--json', help='also write the results as JSON')
    return parser.parse_args()


def force_detections(test_cfg, num_dets: int) -> None:
    """Zero every score threshold and cap detections at ``num_dets``."""
    if isinstance(test_cfg, dict):
        for key, value in test_cfg.items():
            # score_thr, instance_score_thr, center_score_thr (Panoptic
            # FCN), score_threshold, ...
            if key.endswith(('score_thr', 'score_threshold')):
                test_cfg[key] = 0.0
            elif key in ('max_per_img', 'max_things'):
                test_cfg[key] = num_dets
            else:
                force_detections(value, num_dets)


def drop_pretrained(cfg) -> None:
    """Remove 'Pretrained' init_cfgs: weights do not change latency, and
    nothing can be downloaded on an offline machine."""
    if isinstance(cfg, dict):
        init_cfg = cfg.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            cfg['init_cfg'] = None
        for value in cfg.values():
            drop_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            drop_pretrained(value)


def build_model(config: str, cfg_options: Optional[dict],
                force_dets: Optional[int], device: str, seed: int = 0):
    """The model of ``config`` with random weights drawn from ``seed``: the
    same weights, and so the same detections, in every run."""
    cfg = Config.fromfile(find_config(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if force_dets is not None:
        force_detections(cfg.model.get('test_cfg'), force_dets)
    drop_pretrained(cfg.model)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpanoptic')):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(device).eval()


def make_batch(height: int, width: int) -> dict:
    """One random uint8 image and its data sample, as a dataloader gives."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(
        0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
    sample = DetDataSample(
        metainfo=dict(
            img_id=0,
            img_path='benchmark.png',
            ori_shape=(height, width),
            img_shape=(height, width),
            scale_factor=(1.0, 1.0)))
    return dict(inputs=[image], data_samples=[sample])


def _resolve(root, dotted: str):
    """(the object that owns the method ``dotted``, the method's name)."""
    owner = root
    *path, name = dotted.split('.')
    for part in path:
        owner = getattr(owner, part, None)
        if owner is None:
            break
    if owner is None or not callable(getattr(owner, name, None)):
        raise AttributeError(
            f'{type(root).__name__} has no method {dotted!r}, which is '
            'listed as its post-processing (POSTPROCESS_METHODS in '
            'tools/analysis_tools/benchmark.py)')
    return owner, name


class SectionTimer:
    """Accumulates wall time of post-processing methods and deformable
    convolutions of one model while installed.

    Args:
        model: the model to time.
        postprocess_methods: dotted paths, relative to ``model``, of the
            methods timed as post-processing. Defaults to the entry of
            ``POSTPROCESS_METHODS`` for the model's class name (none when
            it has no entry).
    """

    def __init__(self, model,
                 postprocess_methods: Optional[Sequence[str]] = None):
        self.model = model
        self.seconds: Dict[str, float] = dict(postprocess=0.0, dcn=0.0)
        self._undo: List = []
        if postprocess_methods is None:
            postprocess_methods = POSTPROCESS_METHODS.get(
                type(model).__name__, ())
        self.postprocess_methods = tuple(postprocess_methods)

    def _wrap_method(self, dotted: str) -> None:
        owner, name = _resolve(self.model, dotted)
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds['postprocess'] += time.perf_counter() - start

        setattr(owner, name, timed)
        self._undo.append(lambda: delattr(owner, name)
                          if name in vars(owner) else None)

    def _hook_dcn(self) -> None:
        starts: Dict[int, float] = {}

        def pre(module, args):
            starts[id(module)] = time.perf_counter()

        def post(module, args, output):
            self.seconds['dcn'] += time.perf_counter() - starts.pop(
                id(module))

        for module in self.model.modules():
            if isinstance(module, (DeformConv2d, ModulatedDeformConv2d)):
                handles = (module.register_forward_pre_hook(pre),
                           module.register_forward_hook(post))
                self._undo.extend(h.remove for h in handles)

    def __enter__(self):
        for dotted in self.postprocess_methods:
            self._wrap_method(dotted)
        self._hook_dcn()
        return self

    def __exit__(self, *exc):
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def reset(self) -> None:
        self.seconds = dict(postprocess=0.0, dcn=0.0)


def _return_freed_memory() -> None:
    """Give memory freed by earlier runs back to the OS (glibc's
    ``malloc_trim``), so that RSS growth counts what a run allocates even
    when the allocator could reuse pages another model left behind (without
    this an interleaved model can show a few MB)."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS growth as is
        pass


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


@contextmanager
def peak_memory(device: str):
    """Yields a dict whose 'peak' is the memory added during the block."""
    result = dict(peak=0)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        yield result
        torch.cuda.synchronize()
        result['peak'] = torch.cuda.max_memory_allocated() - base
        return
    _return_freed_memory()
    base = _rss_bytes()
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result['peak'] = max(peak[0], _rss_bytes()) - base


def count_thing_segments(sample) -> int:
    """Thing segments in ``pred_panoptic_seg`` (ids >= INSTANCE_OFFSET), or
    the number of ``pred_instances`` when there is no panoptic output."""
    if 'pred_panoptic_seg' in sample:
        ids = sample.pred_panoptic_seg.sem_seg.unique()
        return int((ids >= INSTANCE_OFFSET).sum())
    instances = sample.get('pred_instances')
    return len(instances) if instances is not None else 0


def run_once(model, batch: dict, device: str) -> tuple:
    """(seconds, number of thing segments) of one inference."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        results = model.test_step(batch)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, count_thing_segments(results[0])


def benchmark(models: Dict[str, torch.nn.Module], shape, runs: int,
              warmup: int, device: str,
              shapes: Optional[Dict[str, tuple]] = None) -> Dict[str, dict]:
    """Time ``models`` interleaved, each on one random image of ``shape``
    (or its own entry of ``shapes``)."""
    shapes = shapes or {}
    batches = {
        name: make_batch(*shapes.get(name, shape))
        for name in models
    }
    timers = {name: SectionTimer(model) for name, model in models.items()}
    stats = {
        name: dict(latency=[], postprocess=[], dcn=[], dets=[], peak=[])
        for name in models
    }
    for step in range(warmup + runs):
        for name, model in models.items():  # interleaved
            timer = timers[name]
            timer.reset()
            with timer:
                seconds, dets = run_once(model, batches[name], device)
            if step < warmup:
                continue
            record = stats[name]
            record['latency'].append(seconds)
            record['postprocess'].append(timer.seconds['postprocess'])
            record['dcn'].append(timer.seconds['dcn'])
            record['dets'].append(dets)
    # Peak memory in one more run per model, apart from the timed ones: its
    # sampling thread and the freed memory it returns to the OS (pages the
    # next run faults in again) would slow them.
    for name, model in models.items():
        with peak_memory(device) as memory:
            run_once(model, batches[name], device)
        stats[name]['peak'].append(memory['peak'])
    summary = {}
    for name, record in stats.items():
        latency = statistics.median(record['latency'])
        total = sum(record['latency'])
        summary[name] = dict(
            latency_s=latency,
            images_per_s=1.0 / latency,
            postprocess_share=sum(record['postprocess']) / total,
            dcn_share=sum(record['dcn']) / total,
            thing_segments=statistics.median(record['dets']),
            peak_memory_mb=max(record['peak']) / 2**20,
            params_m=sum(p.numel()
                         for p in models[name].parameters()) / 1e6,
            postprocess_methods=list(timers[name].postprocess_methods))
    return summary


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules()
    models = {
        args.config:
        build_model(args.config, args.cfg_options, args.force_dets,
                    args.device, args.seed)
    }
    if args.compare:
        name = args.compare
        if name == args.config:
            name += ' (compare)'
        models[name] = build_model(args.compare, args.compare_cfg_options,
                                   args.force_dets, args.device, args.seed)
    summary = benchmark(models, args.shape, args.runs, args.warmup,
                        args.device)

    print(f'\ninput {args.shape[0]}x{args.shape[1]}, device {args.device}, '
          f'{torch.get_num_threads()} threads, median of {args.runs} runs '
          f'after {args.warmup} warm-up, models interleaved')
    header = (f'{"model":<44} {"latency s":>9} {"img/s":>7} {"post %":>7} '
              f'{"dcn %":>6} {"things":>6} {"peak MB":>8} {"params M":>8}')
    print(header)
    print('-' * len(header))
    for name, s in summary.items():
        print(f'{name[-44:]:<44} {s["latency_s"]:>9.3f} '
              f'{s["images_per_s"]:>7.2f} '
              f'{100 * s["postprocess_share"]:>7.1f} '
              f'{100 * s["dcn_share"]:>6.1f} {s["thing_segments"]:>6.0f} '
              f'{s["peak_memory_mb"]:>8.0f} {s["params_m"]:>8.2f}')
    for name, s in summary.items():
        print(f'post-processing timed in {name}: '
              f'{s["postprocess_methods"] or "nothing listed"}')
    if args.compare:
        (name_a, a), (name_b, b) = summary.items()
        print(f'latency ratio {name_a} / {name_b} = '
              f'{a["latency_s"] / b["latency_s"]:.3f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), results=summary), f, indent=2)


if __name__ == '__main__':
    main()
