"""Panoptic quality of predictions already on disk, equal to panopticapi.

    python tools/analysis_tools/eval_panoptic.py GT_JSON PRED_JSON
        [--gt-dir DIR] [--pred-dir DIR] [--nproc N] [--classwise]
        [--gt-areas {json,png}] [--out results.json]

Both sides in the COCO panoptic format: a JSON whose ``annotations`` carry
``segments_info`` and a folder of PNGs (segment id = R + 256 G + 256^2 B,
0 = VOID), e.g. another toolbox's output or a test-dev submission scored
against val. The folders default to the JSON paths without ``.json``, as in
panopticapi. Prints panopticapi's table (PQ, SQ, RQ of All, Things, Stuff),
with ``--classwise`` a per-category table with TP/FP/FN, and writes
panopticapi's result dict to ``--out``. Every number equals panopticapi's
``pq_compute``; bad input (a PNG id missing from the JSON or the reverse,
an unknown category, a missing PNG, PNGs of different sizes, repeated image
ids) stops it with a message that names the file.

GT areas in the IoU come from the JSON, as in panopticapi; the first GT
segment whose JSON ``area`` differs from its PNG pixel count is named in a
warning (``--gt-areas png`` counts the pixels instead).
"""
import argparse
import json
import sys
import time

from mmpanoptic.evaluation.functional.panoptic_files import (
    format_classwise_table, format_pq_table, pq_results, pq_stat_files)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('gt_json', help='COCO panoptic ground-truth JSON')
    parser.add_argument('pred_json', help='COCO panoptic prediction JSON')
    parser.add_argument(
        '--gt-dir', help='ground-truth PNG folder (default: GT_JSON '
        'without .json)')
    parser.add_argument(
        '--pred-dir', help='prediction PNG folder (default: PRED_JSON '
        'without .json)')
    parser.add_argument(
        '--nproc', type=int, default=1, help='processes (default: 1)')
    parser.add_argument(
        '--classwise', action='store_true',
        help='also print PQ, SQ, RQ, TP, FP, FN per category')
    parser.add_argument(
        '--gt-areas', choices=('json', 'png'), default='json',
        help='GT areas in the IoU: the JSON "area" (panopticapi, default) '
        'or the PNG pixel count')
    parser.add_argument(
        '--out', help='write the result dict (panopticapi\'s pq_compute '
        'dict, per-category TP/FP/FN under "counts") to this JSON file')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.time()
    try:
        counts = pq_stat_files(
            args.gt_json,
            args.pred_json,
            gt_folder=args.gt_dir,
            pred_folder=args.pred_dir,
            nproc=args.nproc,
            gt_areas=args.gt_areas,
            progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f'eval_panoptic: {error}')
    results = pq_results(counts)
    print(format_pq_table(results))
    if args.classwise:
        print(format_classwise_table(counts, results))
    print(f'Time elapsed: {time.time() - start:0.2f} seconds')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    results,
                    counts={
                        str(c['id']): dict(
                            tp=int(counts.tp[label]),
                            fp=int(counts.fp[label]),
                            fn=int(counts.fn[label]))
                        for label, c in enumerate(counts.categories)
                    }),
                f,
                indent=2)
        print(f'Results written to {args.out}')
    return results


if __name__ == '__main__':
    main()
