"""Panoptic segmentation of a video or a camera, frame by frame.

    python tools/demo/video_demo.py VIDEO CONFIG [CHECKPOINT] --out out.mp4
        [--show] [--device cpu] [--backend pytorch|onnxruntime]
        [--palette coco|random|none] [--max-frames N]
    python tools/demo/video_demo.py --camera 0 CONFIG [CHECKPOINT] --show

Every frame gets the overlay of ``tools/demo/image_demo.py`` (stuff in class
colours, each thing in a shade of its class colour, contours, names). The
video is read and written with OpenCV (``--out``: MPEG-4, ``mp4v``, at the
input's frame rate and size); a progress bar shows frames/s. CONFIG is a
config file or the name of an mmpanoptic config; CHECKPOINT may be an
``.onnx`` file from ``tools/deployment/pytorch2onnx.py`` (then CONFIG may be
``-``: the config stored in the file is used). Without CHECKPOINT the
weights are random. ``--show`` opens a window; q or Esc stops.

A synthetic test video:

    python -c "from mmpanoptic.datasets.synthetic_generator import \\
        write_synthetic_video; write_synthetic_video('demo.mp4', 50)"
"""
import argparse
import os
import os.path as osp
from typing import Optional

import cv2
import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Panoptic segmentation of a video or a camera')
    parser.add_argument(
        'positionals',
        nargs='+',
        metavar='VIDEO CONFIG [CHECKPOINT]',
        help='the video (left out with --camera), the config file or '
        "mmpanoptic config name ('-' with an .onnx file: its own), and a "
        'checkpoint or .onnx file (random weights without it)')
    parser.add_argument(
        '--camera', type=int, default=None, help='read camera ID instead')
    parser.add_argument('--out', help='the output video (.mp4)')
    parser.add_argument(
        '--show', action='store_true', help='show the frames in a window')
    parser.add_argument(
        '--device', default=None, help='cpu, cuda:0, ... (default: auto)')
    parser.add_argument(
        '--backend',
        default=None,
        choices=['pytorch', 'onnxruntime'],
        help='default: onnxruntime for an .onnx file, else pytorch')
    parser.add_argument(
        '--palette',
        default='none',
        choices=['coco', 'voc', 'citys', 'random', 'none'],
        help="colours of the classes; 'none' uses the dataset's")
    parser.add_argument(
        '--max-frames',
        type=int,
        default=None,
        help='stop after this many frames')
    args = parser.parse_args(argv)
    expected = 2 if args.camera is not None else 3
    if not expected - 1 <= len(args.positionals) <= expected:
        parser.error('expected ' +
                     ('CONFIG [CHECKPOINT] with --camera' if args.
                      camera is not None else 'VIDEO CONFIG [CHECKPOINT]') +
                     f', got {args.positionals}')
    if args.camera is None:
        args.video = args.positionals[0]
        rest = args.positionals[1:]
        if not osp.isfile(args.video):
            parser.error(f'video {args.video!r} does not exist')
    else:
        args.video = None
        rest = args.positionals
    args.config = rest[0]
    args.checkpoint = rest[1] if len(rest) > 1 else None
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} does not exist')
    if args.config == '-' and not (args.checkpoint or '').endswith('.onnx'):
        parser.error("CONFIG '-' needs an .onnx file, whose config is used")
    if args.out is None and not args.show:
        parser.error('nothing to do: give --out and/or --show')
    if args.out is not None and not args.out.endswith('.mp4'):
        parser.error(f'--out must be an .mp4 file, got {args.out!r}')
    if args.max_frames is not None and args.max_frames < 1:
        parser.error(f'--max-frames must be >= 1, got {args.max_frames}')
    return args


def segment_video(inferencer,
                  capture: cv2.VideoCapture,
                  out: Optional[str] = None,
                  show: bool = False,
                  max_frames: Optional[int] = None,
                  progress: bool = True) -> int:
    """Overlay the panoptic prediction on every frame of ``capture``.

    Args:
        inferencer (PanopticInferencer): the model.
        capture (cv2.VideoCapture): an opened video or camera.
        out (str, optional): MPEG-4 file written at the capture's frame rate
            (25 when it has none, e.g. some cameras) and frame size.
        show (bool): show each overlay; q or Esc stops.
        max_frames (int, optional): stop after this many frames.
        progress (bool): a progress bar with frames/s (on stderr).

    Returns:
        int: the number of frames segmented.
    """
    from tqdm import tqdm
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    total = total if total > 0 else None
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and fps > 0 else 25.0
    writer = None
    count = 0
    bar = tqdm(
        total=total, unit='frame', desc='Segmenting', disable=not progress)
    try:
        while max_frames is None or count < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            # a BGR array, as OpenCV reads it; the overlay comes back RGB
            overlay = inferencer(
                frame, return_vis=True, no_save_vis=True)['visualization'][0]
            overlay = np.ascontiguousarray(overlay[..., ::-1])
            if out is not None:
                if writer is None:
                    height, width = overlay.shape[:2]
                    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
                    writer = cv2.VideoWriter(out,
                                             cv2.VideoWriter_fourcc(*'mp4v'),
                                             fps, (width, height))
                    if not writer.isOpened():
                        raise RuntimeError(
                            f'OpenCV cannot write an mp4v video to {out}')
                writer.write(overlay)
            count += 1
            bar.update(1)
            if show:
                cv2.imshow('mmpanoptic', overlay)
                if cv2.waitKey(1) & 0xFF in (ord('q'), 27):
                    break
    finally:
        bar.close()
        if writer is not None:
            writer.release()
        if show:
            cv2.destroyAllWindows()
    return count


def main():
    args = parse_args()
    # imported after the arguments are checked: a typo fails in a second
    from mmpanoptic.apis import PanopticInferencer
    inferencer = PanopticInferencer(
        None if args.config == '-' else args.config,
        args.checkpoint,
        device=args.device,
        palette=args.palette,
        show_progress=False,
        backend=args.backend)
    source = args.camera if args.camera is not None else args.video
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        kind = 'camera' if args.video is None else 'video'
        raise SystemExit(f'cannot open {kind} {source!r}')
    try:
        count = segment_video(inferencer, capture, args.out, args.show,
                              args.max_frames)
    finally:
        capture.release()
    written = f': {args.out}' if args.out else ''
    print(f'{count} frames segmented{written}')


if __name__ == '__main__':
    main()
