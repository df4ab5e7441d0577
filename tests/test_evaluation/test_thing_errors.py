"""thing_errors: missed GT things sorted by cause, false positives
described, on a hand-made image with one thing of every outcome."""
import numpy as np

from mmpanoptic.evaluation import (INSTANCE_OFFSET, THING_OUTCOMES,
                                   GroundTruthSegments, SegmentIdIndexer,
                                   box_iou, count_image_segments,
                                   pq_stats_single_image, segment_boxes,
                                   size_buckets, thing_errors)

NUM_THINGS, NUM_CLASSES = 2, 5  # things 0, 1; stuff 2, 3, 4


def _case():
    """12 x 12: stuff (id 100) around four 4x4 things A..D and a crowd."""
    gt_map = np.full((12, 12), 100, np.uint32)
    gt_map[0:4, 0:4] = 1  # A, class 0: predicted exactly -> matched
    gt_map[0:4, 6:10] = 2  # B, class 1: detected with score 0.3
    gt_map[6:10, 0:4] = 3  # C, class 0: only a class-1 box on it
    gt_map[6:10, 6:10] = 4  # D, class 1: detected, but its segment is 1 col
    gt_map[10:12, 10:12] = 5  # crowd of class 0: not a thing to find
    ids = np.array([100, 1, 2, 3, 4, 5])
    gt = GroundTruthSegments(
        ids=ids,
        labels=np.array([4, 0, 1, 0, 1, 0]),
        areas=None,
        iscrowd=np.array([False, False, False, False, False, True]))
    rows = SegmentIdIndexer().rows(gt_map, ids)

    pred = np.full((12, 12), 4, np.int64)  # stuff class 4
    pred[0:4, 0:4] = 0 + 1 * INSTANCE_OFFSET  # A
    pred[6:10, 6] = 1 + 2 * INSTANCE_OFFSET  # a sliver of D: IoU 4/16
    pred[11, 0] = 0 + 3 * INSTANCE_OFFSET  # a 1-pixel thing on stuff
    detections = dict(
        det_boxes=np.array([[0, 0, 4, 4], [6, 0, 10, 4], [0, 6, 4, 10],
                            [6, 6, 10, 10]], float),
        det_scores=np.array([0.9, 0.3, 0.9, 0.8]),
        det_labels=np.array([0, 1, 1, 1]))
    return rows, gt, pred, detections


def test_every_outcome_on_a_hand_made_image():
    rows, gt, pred, detections = _case()
    image = count_image_segments(rows, gt, pred, NUM_CLASSES)
    errors = thing_errors(image, rows, NUM_THINGS, NUM_CLASSES,
                          cut_off=0.5, **detections)
    assert errors.gt_labels.tolist() == [0, 1, 0, 1]  # A B C D, no crowd
    assert errors.gt_sizes.tolist() == [4.0] * 4
    assert [THING_OUTCOMES[o] for o in errors.outcomes] == [
        'matched', 'below_cut_off', 'no_detection', 'lost'
    ]
    # the sliver of D (IoU 4 / 16) and the pixel on stuff (no GT of its class
    # there), in column order (values 1000 < 2001 < 3000)
    assert errors.fp_labels.tolist() == [1, 0]
    assert errors.fp_areas.tolist() == [4, 1]
    assert errors.fp_best_iou.tolist() == [0.25, 0.0]

    # consistent with PQ's counts
    stats = pq_stats_single_image(rows, gt, pred, NUM_CLASSES)
    things = stats.labels < NUM_THINGS
    assert stats.tp[things].sum() == (errors.outcomes == 0).sum() == 1
    assert stats.fn[things].sum() == (errors.outcomes > 0).sum() == 3
    assert stats.fp[things].sum() == len(errors.fp_labels) == 2


def test_cut_off_and_models_without_detections():
    rows, gt, pred, detections = _case()
    image = count_image_segments(rows, gt, pred, NUM_CLASSES)
    # at cut-off 0.2 B's detection counts: its pixels were lost
    errors = thing_errors(image, rows, NUM_THINGS, NUM_CLASSES,
                          cut_off=0.2, **detections)
    assert THING_OUTCOMES[errors.outcomes[1]] == 'lost'
    # no detections given: a miss has no known cause
    errors = thing_errors(image, rows, NUM_THINGS, NUM_CLASSES)
    assert [THING_OUTCOMES[o] for o in errors.outcomes] == [
        'matched', 'missed', 'missed', 'missed'
    ]
    # detections given but none: nothing was detected
    errors = thing_errors(
        image, rows, NUM_THINGS, NUM_CLASSES,
        det_boxes=np.zeros((0, 4)), det_scores=np.zeros(0),
        det_labels=np.zeros(0, np.int64))
    assert [THING_OUTCOMES[o] for o in errors.outcomes] == [
        'matched', 'no_detection', 'no_detection', 'no_detection'
    ]


def test_segment_boxes_and_box_iou():
    rows = np.array([[0, 1, 1],
                     [0, 0, 1],
                     [3, 3, 3]])
    boxes = segment_boxes(rows, 5)
    assert boxes[:2].tolist() == [[0, 0, 2, 2], [1, 0, 3, 2]]
    assert boxes[3].tolist() == [0, 2, 3, 3]
    assert np.isnan(boxes[[2, 4]]).all()  # rows without pixels
    iou = box_iou(
        np.array([[0., 0, 2, 2]]), np.array([[1., 0, 3, 2], [5, 5, 6, 6]]))
    assert np.allclose(iou, [[2 / 6, 0]])


def test_size_buckets_names_and_edges():
    # an object exactly on an edge goes to the bucket above it
    names, bucket = size_buckets(np.array([3.0, 16.0, 20.0, 32.0, 99.0]),
                                 (16, 32))
    assert names == ['< 16', '16-32', '>= 32']
    assert bucket.tolist() == [0, 1, 1, 2, 2]
    names, bucket = size_buckets(np.array([1.5]), (2.5, ))
    assert names == ['< 2.5', '>= 2.5'] and bucket.tolist() == [0]
