"""The benchmark table: every method side by side with mmdet's Panoptic FPN.

    python .dev_scripts/benchmark_all.py [--runs 5] [--warmup 1] \
        [--train-runs 3] [--methods NAME ...] [--reuse-checkpoints] \
        [--out docs/benchmarks.md]

In one run on one machine, for every method (R50 models, random weights:
speed does not depend on them once ``--force-dets`` fixes the number of
detections):

- parameters and FLOPs (mmengine's complexity counter, tensor forward),
- inference latency (median after warm-up, all methods interleaved so that
  machine drift hits all equally), its post-processing and deformable-conv
  shares and peak memory, at 800x1216 (Panoptic FCN-512 at 512x768),
- the time of one training step (loss + backward) on 2 synthetic 512x512
  images, interleaved too,
- PQ/SQ/RQ (all, things, stuff) on the synthetic val split after training
  each method's ``*_synthetic`` config with the same budget
  (``tools/train.py`` then ``tools/test.py``; ``--reuse-checkpoints`` reuses
  a finished ``iter_<max>.pth`` of an earlier run of this script).

It writes ``--out`` (the table, the machine, the command) and a PNG
chart of PQ against latency next to it.
"""
import argparse
import importlib.util
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from mmengine.config import Config

from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# name, R50 config (+ cfg_options), input size, synthetic config, latency
# latency target vs Panoptic FPN (set with or without deformable convs:
# the plain-conv rows carry those targets)
PLAIN_UNIFYING = {
    'model.semantic_head.deformable': False,
    'model.affinity_head.decoder.deformable': False,
}
METHODS = [
    dict(
        name='Panoptic FPN (mmdet)',
        config='panoptic-fpn_r50_fpn_8xb2-1x_coco',
        synthetic='panoptic-fpn_r18_fpn_1xb4-800i_synthetic',
        target=None),
    dict(
        name='UPSNet',
        config='upsnet_r50_fpn_8xb2-90k_coco',
        synthetic='upsnet_r18_fpn_1xb4-800i_synthetic',
        target=None),
    dict(
        name='UPSNet (plain 3x3 semantic convs)',
        config='upsnet-nodcn_r50_fpn_8xb2-90k_coco',
        synthetic=None,
        target=1.15),
    dict(
        name='AUNet',
        config='aunet_r50_fpn_8xb2-18e_coco',
        synthetic='aunet_r18_fpn_1xb4-800i_synthetic',
        target=1.25),
    dict(
        name='Unifying',
        config='unifying_r50_fpn_8xb2-200k_coco',
        synthetic='unifying_r18_fpn_1xb4-800i_synthetic',
        target=None),
    dict(
        name='Unifying (plain 3x3 decoder convs)',
        config='unifying_r50_fpn_8xb2-200k_coco',
        cfg_options=PLAIN_UNIFYING,
        synthetic=None,
        target=1.15),
    # the paper times its Cityscapes model (197 ms vs 386 ms), whose
    # decoders have UPSNet's Cityscapes depth: 2 layers instead of 3
    dict(
        name='Unifying (plain convs, 2-layer decoders)',
        config='unifying_r50_fpn_8xb2-200k_coco',
        cfg_options={
            **PLAIN_UNIFYING, 'model.semantic_head.num_convs': 2,
            'model.affinity_head.decoder.num_convs': 2
        },
        synthetic=None,
        target=1.15),
    dict(
        name='Panoptic FCN',
        config='panoptic-fcn_r50_fpn_8xb2-90k_coco',
        synthetic='panoptic-fcn_r18_fpn_1xb4-800i_synthetic',
        target=None),
    dict(
        name='Panoptic FCN-512',
        config='panoptic-fcn-512_r50_fpn_8xb2-270k_coco',
        shape=(512, 768),
        synthetic=None,
        target=None),
    dict(
        name='Panoptic FCN-512 (plain position head)',
        config='panoptic-fcn-512_r50_fpn_8xb2-270k_coco',
        cfg_options={'model.panoptic_head.position_head.deformable': False},
        shape=(512, 768),
        synthetic=None,
        target=1.0),
]
PQ_KEYS = ('PQ', 'SQ', 'RQ', 'PQ_th', 'SQ_th', 'RQ_th', 'PQ_st', 'SQ_st',
           'RQ_st')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--methods', nargs='+',
                        help='subset of method names (default: all)')
    parser.add_argument('--shape', type=int, nargs=2, default=[800, 1216])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--force-dets', type=int, default=100)
    parser.add_argument('--train-shape', type=int, nargs=2,
                        default=[512, 512])
    parser.add_argument('--train-runs', type=int, default=3)
    parser.add_argument('--skip-pq', action='store_true',
                        help='do not train the synthetic configs')
    parser.add_argument('--reuse-checkpoints', action='store_true')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_all')
    parser.add_argument('--out', default='docs/benchmarks.md')
    return parser.parse_args()


def _benchmark_tool():
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(REPO_ROOT, 'tools/analysis_tools/'
                                   'benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _TensorForward(torch.nn.Module):
    """``model._forward`` with its data samples bound (as mmdet's
    get_flops does), so the complexity counter can trace it."""

    def __init__(self, model, data_samples):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs):
        return self.model._forward(inputs, self.data_samples)


def flops_g(model, batch: dict) -> str:
    """GFLOPs of the tensor forward on ``batch``, or why not."""
    from mmengine.analysis import get_model_complexity_info
    try:
        data = model.data_preprocessor(batch, False)
        info = get_model_complexity_info(
            _TensorForward(model, data['data_samples']),
            inputs=(data['inputs'], ),
            show_table=False,
            show_arch=False)
        return f'{info["flops"] / 1e9:.0f}'
    except Exception as error:  # tracing is not supported by every op
        return f'n/a ({type(error).__name__}: {str(error)[:40]})'


def training_batch(height: int, width: int) -> dict:
    """Two synthetic images with panoptic GT, packed as for training."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from mmpanoptic.datasets import (SyntheticPanopticDataset,
                                     write_synthetic_panoptic)
    root = tempfile.mkdtemp(prefix='benchmark_all_')
    write_synthetic_panoptic(root, dict(train=2), height, width, seed=0)
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        dataset = SyntheticPanopticDataset(
            data_root=root,
            ann_file='annotations/panoptic_train.json',
            data_prefix=dict(img='train/', seg='annotations/panoptic_train/'),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadPanopticAnnotations'),
                dict(type='PackDetInputs')
            ])
        return pseudo_collate([dataset[0], dataset[1]])


def train_step_seconds(models: dict, batch: dict, runs: int) -> dict:
    """Median seconds of loss + backward per model, interleaved."""
    times = {name: [] for name in models}
    for step in range(runs + 1):
        for name, model in models.items():
            model.train()
            start = time.perf_counter()
            data = model.data_preprocessor(batch, True)
            losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            loss.backward()
            model.zero_grad(set_to_none=True)
            if step > 0:  # first round: warm-up
                times[name].append(time.perf_counter() - start)
            model.eval()
    return {name: statistics.median(t) for name, t in times.items()}


def synthetic_pq(method: dict, work_dir: str, reuse: bool) -> dict:
    """Train and test the method's synthetic config; its PQ numbers, or
    ``{'error': ...}`` when a step fails (the other methods still run)."""
    config = find_config(method['synthetic'])
    max_iters = Config.fromfile(config).train_cfg.max_iters
    run_dir = osp.join(work_dir, method['synthetic'])
    checkpoint = osp.join(run_dir, f'iter_{max_iters}.pth')
    env = {**os.environ, 'PYTHONPATH': REPO_ROOT}
    os.makedirs(run_dir, exist_ok=True)
    log_path = osp.join(run_dir, 'benchmark_all.log')
    with open(log_path, 'a') as log:
        if not (reuse and osp.isfile(checkpoint)):
            print(f'training {method["synthetic"]} (log: {log_path})',
                  flush=True)
            trained = subprocess.run([
                sys.executable,
                osp.join(REPO_ROOT, 'tools/train.py'), config, '--work-dir',
                run_dir, '--cfg-options', 'train_cfg.val_interval=100000000'
            ], env=env, stdout=log, stderr=subprocess.STDOUT)
            if trained.returncode != 0:
                return dict(error=f'training failed, see {log_path}')
        result = subprocess.run([
            sys.executable,
            osp.join(REPO_ROOT, 'tools/test.py'), config, checkpoint,
            '--work-dir', osp.join(run_dir, 'test')
        ], env=env, capture_output=True, text=True)
        log.write(result.stdout + result.stderr)
    if result.returncode != 0:
        return dict(error=f'testing failed, see {log_path}')
    found = dict(
        re.findall(r'coco_panoptic/(\w+): (-?[\d.]+)',
                   result.stdout + result.stderr))
    return {key: float(found[key]) for key in PQ_KEYS if key in found}


def machine() -> str:
    model = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            names = re.findall(r'model name\s*:\s*(.*)', f.read())
        model = names[0] if names else model
    except OSError:
        pass
    return (f'{model}, {os.cpu_count()} cores, torch {torch.__version__}, '
            f'{torch.get_num_threads()} threads, Python '
            f'{platform.python_version()}')


def write_report(path: str, rows: list, args, command: str) -> None:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    reference = rows[0]['latency_s']
    lines = [
        '# Benchmarks', '',
        'Every number below was written by '
        '`.dev_scripts/benchmark_all.py` in one run on one '
        'machine; nothing is copied from a paper.', '',
        f'- machine: {machine()}', f'- command: `{command}`',
        f'- latency: median of {args.runs} runs after {args.warmup} warm-up, '
        f'methods interleaved, one image, random weights with '
        f'{args.force_dets} forced detections; ratio = latency / Panoptic '
        'FPN latency', '- peak MB: memory added by one more inference '
        'after the timed ones (CPU: peak RSS growth, freed memory returned '
        'to the OS first)', f'- training step: loss + backward on 2 synthetic '
        f'{args.train_shape[0]}x{args.train_shape[1]} images',
        '- PQ: synthetic val split after each `*_synthetic` config '
        '(same schedule, batch and image size for all)',
        '- deformable convs (DCN %): mmcv\'s DeformConv2dPack / '
        'ModulatedDeformConv2dPack parameters, computed on CPU by '
        'mmpanoptic\'s grid-sample path (`DCNGridSample`, equal to '
        'mmcv\'s op)',
        '- target: the latency ratio set for the method (stated '
        'with plain convs where the method has deformable ones)', '',
        '| method | input | params (M) | GFLOPs | latency (s) | ratio | '
        'target | post % | DCN % | peak MB | train step (s) | PQ | SQ | RQ '
        '| PQ_th | SQ_th | RQ_th | PQ_st | SQ_st | RQ_st |',
        '|' + ' --- |' * (11 + len(PQ_KEYS))
    ]
    for row in rows:
        ratio = row['latency_s'] / reference
        target = row['method']['target']
        if target is None:
            verdict = '-'
        elif ratio <= target:
            verdict = f'<= {target}: met'
        else:
            verdict = f'<= {target}: missed by {ratio / target - 1:.0%}'
        pq = row.get('pq', {})
        cells = [
            row['method']['name'], 'x'.join(map(str, row['shape'])),
            f'{row["params_m"]:.1f}', row['flops'],
            f'{row["latency_s"]:.2f}', f'{ratio:.2f}', verdict,
            f'{100 * row["postprocess_share"]:.1f}',
            f'{100 * row["dcn_share"]:.1f}', f'{row["peak_memory_mb"]:.0f}',
            f'{row["train_step_s"]:.2f}'
        ]
        if 'error' in pq:
            cells += [pq['error']] + [''] * (len(PQ_KEYS) - 1)
        else:
            cells += [f'{pq[k]:.1f}' if k in pq else '-' for k in PQ_KEYS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', f'![PQ against latency]({osp.basename(chart_path(path))})',
              '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


def chart_path(report: str) -> str:
    return osp.splitext(report)[0] + '_pq_latency.png'


def write_chart(path: str, rows: list) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        if 'PQ' in row.get('pq', {}):
            ax.scatter(row['latency_s'], row['pq']['PQ'])
            ax.annotate(row['method']['name'],
                        (row['latency_s'], row['pq']['PQ']),
                        textcoords='offset points', xytext=(4, 4),
                        fontsize=8)
    ax.set_xlabel('latency at 800x1216, R50, CPU (s)')
    ax.set_ylabel('synthetic val PQ (R18, same budget)')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    args = parse_args()
    command = 'python ' + ' '.join(sys.argv)
    register_all_modules()
    tool = _benchmark_tool()
    # the reference comes first, always: every ratio is relative to it
    methods = [METHODS[0]] + [
        m for m in METHODS[1:]
        if not args.methods or m['name'] in args.methods
    ]
    models, shapes = {}, {}
    for method in methods:
        name = method['name']
        models[name] = tool.build_model(method['config'],
                                        method.get('cfg_options'),
                                        args.force_dets, 'cpu')
        shapes[name] = tuple(method.get('shape', args.shape))
    rows = []
    summary = tool.benchmark(models, tuple(args.shape), args.runs,
                             args.warmup, 'cpu', shapes=shapes)
    steps = train_step_seconds(models, training_batch(*args.train_shape),
                               args.train_runs)
    for method in methods:
        name = method['name']
        row = dict(summary[name], method=method, shape=shapes[name],
                   train_step_s=steps[name],
                   flops=flops_g(models[name],
                                 tool.make_batch(*shapes[name])))
        if method['synthetic'] and not args.skip_pq:
            row['pq'] = synthetic_pq(method, args.work_dir,
                                     args.reuse_checkpoints)
        rows.append(row)
        print(name, {k: v for k, v in row.items() if k != 'method'},
              flush=True)
        write_report(args.out, rows, args, command)  # partial, as it goes
    write_chart(chart_path(args.out), rows)
    print(f'wrote {args.out} and {chart_path(args.out)}')


if __name__ == '__main__':
    main()
