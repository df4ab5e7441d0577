"""Draw a dataset's panoptic ground truth as the model sees it.

    python tools/analysis_tools/browse_dataset.py CONFIG
        [--split train|val|test] [--output-dir DIR] [--not-show]
        [--max-images N] [--show-interval 2] [--cfg-options k=v ...]

mmdet's browse_dataset shows only instances; this one draws the panoptic
ground truth after the split's pipeline (augmentations included) with
``PanopticLocalVisualizer``: stuff in class colours, each thing in a shade of
its class colour, crowd regions in their class colour, VOID pixels as the
image, contours and thing names. CONFIG is a config file or the name of an
mmpanoptic config.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmpanoptic.registry import DATASETS, VISUALIZERS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config


def parse_args():
    parser = argparse.ArgumentParser(
        description='Browse the panoptic ground truth of a dataset')
    parser.add_argument('config', help='config file path or name')
    parser.add_argument(
        '--split',
        default='train',
        choices=['train', 'val', 'test'],
        help='which dataloader of the config to browse')
    parser.add_argument(
        '--output-dir', default=None, help='write the drawings here')
    parser.add_argument(
        '--not-show', action='store_true', help='do not open a window')
    parser.add_argument(
        '--show-interval', type=float, default=2,
        help='seconds each image is shown')
    parser.add_argument(
        '--max-images', type=int, default=None,
        help='stop after this many images')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    args = parser.parse_args()
    if args.not_show and args.output_dir is None:
        parser.error('--not-show without --output-dir draws nothing: '
                     'give --output-dir')
    if args.max_images is not None and args.max_images < 1:
        parser.error(f'--max-images must be >= 1, got {args.max_images}')
    return args


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(find_config(args.config))
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpanoptic'))

    dataset = DATASETS.build(cfg[f'{args.split}_dataloader'].dataset)
    # drawings go to --output-dir (or a window): no storage backends, which
    # would only warn that they have no save_dir
    visualizer = VISUALIZERS.build(
        dict(cfg.visualizer, type='PanopticLocalVisualizer',
             vis_backends=None))
    visualizer.dataset_meta = dataset.metainfo
    if args.output_dir is not None:
        os.makedirs(args.output_dir, exist_ok=True)

    count = len(dataset)
    if args.max_images is not None:
        count = min(count, args.max_images)
    progress_bar = ProgressBar(count)
    for index in range(count):
        item = dataset[index]
        image = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # RGB
        data_sample = item['data_samples'].numpy()
        name = osp.basename(data_sample.img_path)
        out_file = (
            osp.join(args.output_dir, name)
            if args.output_dir is not None else None)
        visualizer.add_datasample(
            name,
            image,
            data_sample,
            draw_pred=False,
            show=not args.not_show,
            wait_time=args.show_interval,
            out_file=out_file)
        progress_bar.update()


if __name__ == '__main__':
    main()
