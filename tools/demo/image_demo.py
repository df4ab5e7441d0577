"""Panoptic segmentation of an image, a folder of images or a list of them.

    python tools/demo/image_demo.py INPUTS CONFIG [--weights CKPT]
        [--backend pytorch|onnxruntime] [--out-dir outputs] [--device cpu]
        [--batch-size 1] [--show] [--no-save-vis] [--no-save-pred]
        [--palette coco|random|none]

INPUTS is an image file, a folder (its images, sorted by name) or several
files. CONFIG is a config file or the name of an mmpanoptic config. CKPT may
be an ``.onnx`` file exported by ``tools/deployment/pytorch2onnx.py``: the
model then runs in ONNX Runtime (``--backend onnxruntime``, the default for
``.onnx``) with the same outputs, and CONFIG may be ``-`` (the config stored
in the file). For each image NAME.EXT it writes, under --out-dir:

    panoptic/NAME.png   COCO panoptic PNG (segment id = R + 256 G + 256^2 B,
                        0 = VOID)
    panoptic/NAME.json  its segments_info (id, category_id = index in the
                        model's classes, category_name, isthing, area, bbox)
    vis/NAME.EXT        the overlay: stuff in class colours, each thing in a
                        shade of its class colour, contours, thing names

A progress bar counts the images.
"""
import argparse
import os.path as osp


def parse_args():
    parser = argparse.ArgumentParser(
        description='Panoptic segmentation of images (mmdet-style demo)')
    parser.add_argument(
        'inputs', nargs='+', help='an image, a folder of images, or images')
    parser.add_argument('model', help='config file or mmpanoptic config name')
    parser.add_argument(
        '--weights',
        default=None,
        help='checkpoint or .onnx file; without it the weights are random')
    parser.add_argument(
        '--backend',
        default=None,
        choices=['pytorch', 'onnxruntime'],
        help='default: onnxruntime for an .onnx file, else pytorch')
    parser.add_argument(
        '--out-dir', default='outputs', help='where the outputs are written')
    parser.add_argument(
        '--device', default=None, help='cpu, cuda:0, ... (default: auto)')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument(
        '--palette',
        default='none',
        choices=['coco', 'voc', 'citys', 'random', 'none'],
        help="colours of the classes; 'none' uses the dataset's")
    parser.add_argument(
        '--show', action='store_true', help='show each overlay in a window')
    parser.add_argument(
        '--no-save-vis', action='store_true', help='do not write vis/')
    parser.add_argument(
        '--no-save-pred', action='store_true', help='do not write panoptic/')
    parser.add_argument(
        '--print-result', action='store_true',
        help='print the segments of each image')
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    for path in args.inputs:
        if not osp.exists(path):
            parser.error(f'input {path!r} does not exist')
    if args.model == '-' and not (args.weights or '').endswith('.onnx'):
        parser.error("CONFIG '-' needs --weights FILE.onnx, whose config is "
                     'used')
    if len(args.inputs) > 1:
        folders = [p for p in args.inputs if osp.isdir(p)]
        if folders:
            parser.error(f'give one folder or image files, not both: '
                         f'{folders}')
    return args


def main():
    args = parse_args()
    # imported after the arguments are checked: a typo fails in a second
    from mmpanoptic.apis import PanopticInferencer
    inferencer = PanopticInferencer(
        None if args.model == '-' else args.model,
        args.weights,
        device=args.device,
        palette=args.palette,
        backend=args.backend)
    inputs = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    results = inferencer(
        inputs,
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        show=args.show,
        no_save_vis=args.no_save_vis,
        no_save_pred=args.no_save_pred,
        print_result=args.print_result)
    count = len(results['predictions'])
    if args.no_save_vis and args.no_save_pred:
        print(f'{count} images segmented; nothing written.')
        return
    written = []
    if not args.no_save_pred:
        panoptic_dir = osp.join(args.out_dir, 'panoptic')
        written.append(f'COCO panoptic PNG + JSON in {panoptic_dir}')
    if not args.no_save_vis:
        written.append(f'overlays in {osp.join(args.out_dir, "vis")}')
    print(f'{count} images segmented: ' + '; '.join(written))


if __name__ == '__main__':
    main()
