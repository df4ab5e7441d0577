"""Write the synthetic COCO-panoptic dataset used by the demo and the tests.

Example:
    python tools/misc/make_synthetic_panoptic.py data/synthetic_panoptic \
        --train 200 --val 50 --size 128 128 --seed 0
"""
import argparse
import time

from mmpanoptic.datasets.synthetic_generator import write_synthetic_panoptic


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument('--train', type=int, default=200,
                        help='number of training images')
    parser.add_argument('--val', type=int, default=50,
                        help='number of validation images')
    parser.add_argument('--size', type=int, nargs=2, default=[128, 128],
                        metavar=('H', 'W'), help='image height and width')
    parser.add_argument('--max-things', type=int, default=8,
                        help='max non-crowd thing instances per image')
    parser.add_argument('--crowd-prob', type=float, default=0.25,
                        help='probability of a crowd cluster per image')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    start = time.perf_counter()
    ann_files = write_synthetic_panoptic(
        args.out_dir,
        splits=dict(train=args.train, val=args.val),
        height=args.size[0],
        width=args.size[1],
        seed=args.seed,
        max_things=args.max_things,
        crowd_prob=args.crowd_prob)
    for split, path in ann_files.items():
        print(f'{split}: {path}')
    print(f'wrote {args.train + args.val} images to {args.out_dir} in '
          f'{time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
