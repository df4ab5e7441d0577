"""Loss and PQ curves (and iteration times) from mmengine training logs.

    python tools/analysis_tools/analyze_logs.py plot_curve LOG [LOG ...]
        [--keys loss coco_panoptic/PQ] [--legend A B] [--title T]
        [--out curves.png]
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG [LOG ...]

LOG is a ``vis_data/scalars.json`` written by mmengine's ``LocalVisBackend``
or a work dir: all ``<timestamp>/vis_data/scalars.json`` under it are read in
time order (a resumed run continues its curve). Without ``--keys``, the left
panel shows the total loss and every ``loss_*`` term, the right one the PQ
metrics found (``*/PQ``, ``*/PQ_th``, ``*/PQ_st``). Validation results are
placed at the training iteration they follow: mmengine's ``LoggerHook``
records them with ``step = epoch`` (0 in iteration-based runs) by default.
"""
import argparse
import glob
import json
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

Curves = Dict[str, Tuple[List[float], List[float]]]


def scalar_files(log: str) -> List[str]:
    """The ``scalars.json`` files of a log argument (a file or a work dir),
    in time order (their timestamp folders sort by time)."""
    if osp.isfile(log):
        return [log]
    if osp.isdir(log):
        files = sorted(
            glob.glob(osp.join(log, '*', 'vis_data', 'scalars.json')) +
            glob.glob(osp.join(log, 'vis_data', 'scalars.json')))
        if files:
            return files
        raise FileNotFoundError(
            f'no vis_data/scalars.json under {log}: is it a work dir of '
            f'tools/train.py?')
    raise FileNotFoundError(f'log {log!r} does not exist')


def load_scalars(paths: Sequence[str]) -> Tuple[Curves, Curves]:
    """Training and validation curves of mmengine ``scalars.json`` files.

    A line with ``iter`` is a training record (x = its ``iter``); a line
    without is a validation record, placed at the last training iteration
    seen before it (x = its ``step`` when none was).

    Returns:
        tuple[dict, dict]: ``train`` and ``val``, each mapping a key to
        ``(xs, values)``; non-numeric values are skipped.
    """
    train: Curves = defaultdict(lambda: ([], []))
    val: Curves = defaultdict(lambda: ([], []))
    last_iter: Optional[float] = None
    for path in paths:
        with open(path) as f:
            for line_number, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(
                        f'{path}:{line_number} is not JSON ({error})')
                if 'iter' in record:
                    last_iter = float(record['iter'])
                    x, target = last_iter, train
                else:
                    x = last_iter if last_iter is not None else float(
                        record.get('step', 0))
                    target = val
                for key, value in record.items():
                    if key in ('iter', 'step', 'epoch'):
                        continue
                    if isinstance(value, (int, float)) and not isinstance(
                            value, bool):
                        target[key][0].append(x)
                        target[key][1].append(float(value))
    return dict(train), dict(val)


def default_keys(train: Curves, val: Curves) -> Tuple[List[str], List[str]]:
    """Loss keys (total first) and PQ keys found in a log."""
    losses = sorted(k for k in train if k.startswith('loss'))
    if 'loss' in losses:
        losses.remove('loss')
        losses.insert(0, 'loss')
    pq = sorted(
        k for k in val if k.rsplit('/', 1)[-1] in ('PQ', 'PQ_th', 'PQ_st'))
    return losses, pq


def plot_curve(logs: Sequence[str],
               out: str,
               keys: Optional[Sequence[str]] = None,
               legend: Optional[Sequence[str]] = None,
               title: Optional[str] = None) -> List[str]:
    """Plot the curves of one or more runs into a PNG.

    Args:
        logs (Sequence[str]): ``scalars.json`` files or work dirs, one per
            run.
        out (str): Output image path.
        keys (Sequence[str], optional): Keys to plot; training keys (loss
            terms) go to the left panel, validation keys (metrics) to the
            right one. None: :func:`default_keys`.
        legend (Sequence[str], optional): One name per run.
        title (str, optional): Figure title.

    Returns:
        list[str]: The keys plotted.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if legend is not None and len(legend) != len(logs):
        raise ValueError(
            f'{len(legend)} legend names for {len(logs)} logs')
    runs = [load_scalars(scalar_files(log)) for log in logs]
    names = list(legend) if legend is not None else [
        osp.basename(osp.normpath(log)) for log in logs
    ]
    panels: List[List[Tuple[str, str]]] = []  # (train|val, key) per run
    plotted = []
    for run_index, (train, val) in enumerate(runs):
        if keys is None:
            loss_keys, metric_keys = default_keys(train, val)
        else:
            missing = [k for k in keys if k not in train and k not in val]
            if missing:
                raise KeyError(
                    f'{logs[run_index]} has no {missing}; it has '
                    f'{sorted(set(train) | set(val))}')
            loss_keys = [k for k in keys if k in train]
            metric_keys = [k for k in keys if k not in train]
        if not loss_keys and not metric_keys:
            raise ValueError(f'{logs[run_index]} holds no loss or PQ record')
        panels.append([('train', k) for k in loss_keys] +
                      [('val', k) for k in metric_keys])
        plotted.extend(k for k in loss_keys + metric_keys
                       if k not in plotted)

    has_train = any(kind == 'train' for ks in panels for kind, _ in ks)
    has_val = any(kind == 'val' for ks in panels for kind, _ in ks)
    columns = int(has_train) + int(has_val)
    figure, axes = plt.subplots(1, columns, figsize=(6.5 * columns, 4.5))
    axes = np.atleast_1d(axes)
    loss_axis = axes[0] if has_train else None
    metric_axis = axes[-1] if has_val else None
    for (train, val), name, run_keys in zip(runs, names, panels):
        prefix = f'{name}: ' if len(runs) > 1 else ''
        for kind, key in run_keys:
            xs, values = (train if kind == 'train' else val)[key]
            axis = loss_axis if kind == 'train' else metric_axis
            axis.plot(
                xs,
                values,
                marker='o' if kind == 'val' else None,
                markersize=4,
                linewidth=1.5 if key in ('loss', ) or kind == 'val' else 1,
                label=prefix + key)
    if loss_axis is not None:
        loss_axis.set_xlabel('iteration')
        loss_axis.set_ylabel('loss')
        loss_axis.set_title('training losses')
        loss_axis.legend(fontsize=8)
        loss_axis.grid(alpha=0.3)
    if metric_axis is not None:
        metric_axis.set_xlabel('iteration')
        metric_axis.set_ylabel('%')
        metric_axis.set_title('validation')
        metric_axis.legend(fontsize=8)
        metric_axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    out_dir = osp.dirname(out)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return plotted


def train_time(log: str, include_outliers: bool = False) -> Dict[str, float]:
    """Seconds per training iteration of a run: mean, slowest and fastest
    logged window (the first window, with start-up costs, is left out
    unless ``include_outliers``)."""
    train, _ = load_scalars(scalar_files(log))
    if 'time' not in train:
        raise KeyError(f'{log} has no training "time" record')
    times = np.array(train['time'][1])
    if not include_outliers and len(times) > 1:
        times = times[1:]
    return dict(
        mean=float(times.mean()),
        slowest=float(times.max()),
        fastest=float(times.min()),
        std=float(times.std()))


def parse_args():
    parser = argparse.ArgumentParser(
        description='Curves and times from mmengine training logs')
    commands = parser.add_subparsers(dest='command', required=True)
    plot = commands.add_parser('plot_curve', help='plot losses and PQ')
    plot.add_argument(
        'logs', nargs='+', help='scalars.json files or work dirs')
    plot.add_argument('--keys', nargs='+', default=None,
                      help='keys to plot (default: losses and PQ)')
    plot.add_argument('--legend', nargs='+', default=None,
                      help='one name per log')
    plot.add_argument('--title', default=None)
    plot.add_argument('--out', default='curves.png', help='output PNG')
    timing = commands.add_parser('cal_train_time',
                                 help='seconds per training iteration')
    timing.add_argument('logs', nargs='+')
    timing.add_argument('--include-outliers', action='store_true',
                        help='keep the first logged window')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.command == 'plot_curve':
        keys = plot_curve(args.logs, args.out, args.keys, args.legend,
                          args.title)
        print(f'{", ".join(keys)} -> {args.out}')
    else:
        for log in args.logs:
            times = train_time(log, args.include_outliers)
            print(f'{log}: {times["mean"]:.4f} s/iter on average '
                  f'(slowest window {times["slowest"]:.4f}, fastest '
                  f'{times["fastest"]:.4f}, std {times["std"]:.4f})')


if __name__ == '__main__':
    main()
