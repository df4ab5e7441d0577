"""tools/analysis_tools/eval_panoptic.py and the file evaluation behind it
(mmpanoptic.evaluation.functional.panoptic_files) against panopticapi."""
import contextlib
import io
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from panopticapi.evaluation import pq_compute as panopticapi_pq_compute

from mmpanoptic.evaluation.functional import panoptic_png
from mmpanoptic.evaluation.functional.panoptic_files import (pq_compute,
                                                             pq_stat_files)
from mmpanoptic.utils import id2rgb
from ..conftest import load_script
from ..test_evaluation.panoptic_cases import (CATEGORIES, NUM_CLASSES,
                                              NUM_THINGS, random_ground_truth,
                                              random_prediction,
                                              reference_pq, write_case)

# the random cases give JSON areas that differ from the PNG on purpose
pytestmark = pytest.mark.filterwarnings('ignore:GT segment')


def _assert_equal(counts, reference):
    """Every per-class TP/FP/FN equal, every average to 1e-12."""
    for label, category in enumerate(counts.categories):
        ref = reference['per_class'][category['id']]
        got = (counts.tp[label], counts.fp[label], counts.fn[label])
        assert got == (ref['tp'], ref['fp'], ref['fn']), category
        assert counts.iou[label] == pytest.approx(
            ref['iou'], rel=1e-12, abs=1e-12)
    from mmpanoptic.evaluation.functional.panoptic_files import pq_results
    results = pq_results(counts)
    for group in ('All', 'Things', 'Stuff'):
        for key in ('pq', 'sq', 'rq'):
            assert results[group][key] == pytest.approx(
                reference[group][key], rel=1e-12, abs=1e-12), (group, key)
        assert results[group]['n'] == reference[group]['n']


def _random_images(rng, num_images, size=(12, 40)):
    images = []
    for image_id in range(num_images):
        height, width = (int(v) for v in rng.integers(*size, size=2))
        gt_map, segments = random_ground_truth(rng, height, width,
                                               rng.random() < 0.05)
        crowd_labels = tuple(
            i for i, c in enumerate(CATEGORIES) for s in segments
            if s['iscrowd'] and s['category_id'] == c['id'])
        pred = random_prediction(rng, gt_map, segments, rng.random() < 0.05,
                                 crowd_labels)
        images.append((image_id, gt_map, segments, pred))
    return images


@pytest.mark.parametrize('compiled', [True, False])
def test_randomised_cases_equal_panopticapi(tmp_path, monkeypatch, compiled):
    """Crowd (several per class, the "mostly on VOID + crowd" rule), VOID,
    empty images, GT ids unknown to the JSON, JSON areas != PNG areas, ids
    above 2^16; one and two processes."""
    if not compiled:
        monkeypatch.setattr(panoptic_png, '_panoptic_count_ext', None)
    rng = np.random.default_rng(29)
    totals = dict(tp=0, fp=0, fn=0)
    for case in range(25):
        images = _random_images(rng, int(rng.integers(1, 12)))
        gt_json, pred_json = write_case(str(tmp_path), f'case{case}', images)
        reference = reference_pq(gt_json, pred_json)
        counts = pq_stat_files(gt_json, pred_json, nproc=1 + case % 2)
        _assert_equal(counts, reference)
        for c in CATEGORIES:
            for key in totals:
                totals[key] += reference['per_class'][c['id']][key]
    assert min(totals.values()) > 30  # the cases exercise every count


def test_many_segments_and_large_prediction_ids(tmp_path):
    """400 GT segments and predicted PNG ids above 2^16."""
    rng = np.random.default_rng(3)
    gt_index = np.kron(
        np.arange(400).reshape(20, 20), np.ones((4, 4), np.int64))
    ids = rng.choice(256**3 - 1, 400, replace=False) + 1
    labels = rng.integers(0, NUM_CLASSES, 400)
    segments = [
        dict(id=int(ids[k]), category_id=CATEGORIES[labels[k]]['id'],
             iscrowd=int(labels[k] < NUM_THINGS and rng.random() < 0.1),
             area=16) for k in range(400)
    ]
    shifted = np.roll(gt_index, (1, 0), axis=(0, 1))
    relabel = np.where(rng.random(400) < 0.2,
                       rng.integers(0, NUM_CLASSES, 400), labels)
    pred = relabel[shifted] + (shifted + 1) * 1000
    gt_json, pred_json = write_case(str(tmp_path), 'many',
                                    [(0, ids[gt_index], segments, pred)])
    # move the prediction's ids above 2^16
    with open(pred_json) as f:
        content = json.load(f)
    png_path = osp.join(pred_json[:-5], '000000.png')
    png_ids = cv2.imread(png_path, cv2.IMREAD_UNCHANGED)[..., ::-1].astype(
        np.int64) @ np.array([1, 256, 65536])
    new_ids = rng.choice(np.arange(2**16, 256**3), png_ids.max() + 1,
                         replace=False)
    new_ids[0] = 0
    cv2.imwrite(png_path, id2rgb(new_ids[png_ids])[..., ::-1])
    for segment in content['annotations'][0]['segments_info']:
        segment['id'] = int(new_ids[segment['id']])
    with open(pred_json, 'w') as f:
        json.dump(content, f)
    reference = reference_pq(gt_json, pred_json)
    counts = pq_stat_files(gt_json, pred_json)
    _assert_equal(counts, reference)
    assert counts.tp.sum() > 100 and counts.fp.sum() > 10


def test_command_prints_panopticapi_table_and_writes_its_dict(
        tmp_path, capsys):
    rng = np.random.default_rng(5)
    gt_json, pred_json = write_case(str(tmp_path), 'cli',
                                    _random_images(rng, 6))
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        expected = panopticapi_pq_compute(gt_json, pred_json)
    table = [
        line for line in printed.getvalue().splitlines()
        if '|' in line or set(line) == {'-'}
    ]
    out = str(tmp_path / 'results.json')
    tool = load_script('tools/analysis_tools/eval_panoptic.py')
    results = tool.main([
        gt_json, pred_json, '--gt-dir', gt_json[:-5], '--pred-dir',
        pred_json[:-5], '--nproc', '2', '--classwise', '--out', out
    ])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[:len(table)] == table
    assert '100%' in captured.err  # the progress bar
    for category in CATEGORIES:  # the classwise table
        assert any(line.startswith(category['name']) for line in lines)
    for group in ('All', 'Things', 'Stuff'):
        for key in ('pq', 'sq', 'rq'):
            assert results[group][key] == pytest.approx(
                expected[group][key], rel=1e-12, abs=1e-12)
        assert results[group]['n'] == expected[group]['n']
    for cat_id, values in expected['per_class'].items():
        for key in ('pq', 'sq', 'rq'):
            assert results['per_class'][cat_id][key] == pytest.approx(
                values[key], rel=1e-12, abs=1e-12)
    with open(out) as f:
        written = json.load(f)
    assert written['All'] == pytest.approx(results['All'])
    assert set(written['per_class']) == {str(c['id']) for c in CATEGORIES}
    reference = reference_pq(gt_json, pred_json)
    for category in CATEGORIES:
        ref = reference['per_class'][category['id']]
        assert written['counts'][str(category['id'])] == dict(
            tp=ref['tp'], fp=ref['fp'], fn=ref['fn'])

    # panopticapi's pq_compute signature and printout
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        same = pq_compute(gt_json, pred_json)
    assert [line for line in printed.getvalue().splitlines()
            if '|' in line or set(line) == {'-'}] == table
    assert same['All'] == pytest.approx(results['All'])


def _edit_json(path, edit):
    with open(path) as f:
        content = json.load(f)
    edit(content)
    with open(path, 'w') as f:
        json.dump(content, f)


def _bad_input_cases(tmp_path):
    """(name, how to break a fresh case, the message, the file it names)."""

    def png_id_not_in_json(gt_json, pred_json):
        _edit_json(pred_json, lambda c: c['annotations'][0]['segments_info']
                   .pop(0))
        return 'are in the PNG', osp.join(pred_json[:-5], '000000.png')

    def json_id_not_in_png(gt_json, pred_json):
        _edit_json(
            pred_json, lambda c: c['annotations'][1]['segments_info'].append(
                dict(id=4000, category_id=3)))
        return 'but not in its PNG', osp.join(pred_json[:-5], '000001.png')

    def unknown_category(gt_json, pred_json):
        _edit_json(
            pred_json, lambda c: c['annotations'][0]['segments_info'][0]
            .update(category_id=999))
        return 'unknown category_id 999', pred_json

    def unknown_gt_category(gt_json, pred_json):
        _edit_json(
            gt_json, lambda c: c['annotations'][1]['segments_info'][0]
            .update(category_id=998))
        return 'unknown category_id 998', gt_json

    def missing_png(gt_json, pred_json):
        os.remove(osp.join(pred_json[:-5], '000001.png'))
        return 'does not exist', osp.join(pred_json[:-5], '000001.png')

    def size_mismatch(gt_json, pred_json):
        path = osp.join(pred_json[:-5], '000000.png')
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        cv2.imwrite(path, image[:-1])
        return 'pixels but the ground truth', path

    def repeated_pred_image(gt_json, pred_json):
        _edit_json(pred_json,
                   lambda c: c['annotations'].append(c['annotations'][0]))
        return 'more than one annotation for the image ids [0]', pred_json

    def repeated_gt_image(gt_json, pred_json):
        _edit_json(gt_json,
                   lambda c: c['annotations'].append(c['annotations'][1]))
        return 'more than one annotation for the image ids [1]', gt_json

    def no_prediction(gt_json, pred_json):
        _edit_json(pred_json, lambda c: c['annotations'].pop(1))
        return 'no prediction for the image ids [1]', pred_json

    def repeated_segment_id(gt_json, pred_json):
        _edit_json(
            pred_json, lambda c: c['annotations'][0]['segments_info'].append(
                dict(c['annotations'][0]['segments_info'][0])))
        return 'Repeated segment ids', pred_json

    def not_a_png(gt_json, pred_json):
        path = osp.join(gt_json[:-5], '000001.png')
        with open(path, 'wb') as f:
            f.write(b'not an image')
        return 'is not a PNG file', path

    def gt_area_missing(gt_json, pred_json):
        _edit_json(
            gt_json,
            lambda c: c['annotations'][2]['segments_info'][0].pop('area'))
        return 'has no "area"', gt_json

    def missing_folder(gt_json, pred_json):
        os.rename(pred_json[:-5], pred_json[:-5] + '_moved')
        return 'folder', pred_json[:-5]

    return [
        png_id_not_in_json, json_id_not_in_png, unknown_category,
        unknown_gt_category, missing_png, size_mismatch, repeated_pred_image,
        repeated_gt_image, no_prediction, repeated_segment_id, not_a_png,
        gt_area_missing, missing_folder
    ]


def test_bad_input_is_refused_naming_the_file(tmp_path):
    tool = load_script('tools/analysis_tools/eval_panoptic.py')
    for index, breaker in enumerate(_bad_input_cases(tmp_path)):
        rng = np.random.default_rng(index)
        images = []
        for image_id in range(3):  # every image has a few segments
            gt_map, segments = random_ground_truth(rng, 20, 24)
            while not segments:
                gt_map, segments = random_ground_truth(rng, 20, 24)
            pred = np.full(gt_map.shape, NUM_CLASSES, np.int64)
            pred[:10] = NUM_THINGS + 1000
            pred[10:, :5] = 1 + 2000
            images.append((image_id, gt_map, segments, pred))
        gt_json, pred_json = write_case(str(tmp_path), f'bad{index}', images)
        message, named = breaker(gt_json, pred_json)
        with pytest.raises((ValueError, FileNotFoundError)) as error:
            pq_stat_files(gt_json, pred_json, nproc=1 + index % 2)
        assert message in str(error.value), (breaker.__name__, error.value)
        assert named in str(error.value), (breaker.__name__, error.value)
        with pytest.raises(SystemExit) as exit_info:
            tool.main([gt_json, pred_json, '--no-progress'])
        assert message in str(exit_info.value.code), breaker.__name__


@pytest.mark.parametrize('nproc', [1, 2])
def test_json_area_that_differs_from_the_png_warns_once(tmp_path, nproc):
    gt = np.zeros((4, 4), np.int64)
    gt[:2] = 5  # 8 pixels
    pred = np.full((4, 4), NUM_CLASSES, np.int64)
    pred[:2, :3] = NUM_THINGS  # 6 on the segment
    images = [(i, gt, [dict(id=5, category_id=8, iscrowd=0,
                            area=7 if i == 2 else 8)], pred)
              for i in range(6)]
    images[4][2][0]['area'] = 9
    gt_json, pred_json = write_case(str(tmp_path), 'area', images)
    with pytest.warns(UserWarning) as record:
        counts = pq_stat_files(gt_json, pred_json, nproc=nproc)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1  # once, for the first image that differs
    assert '000002.png' in messages[0]
    assert '"area" 7' in messages[0] and '8 pixels' in messages[0]
    assert '--gt-areas png' in messages[0]
    _assert_equal(counts, reference_pq(gt_json, pred_json))
    exact = pq_stat_files(gt_json, pred_json, gt_areas='png')
    assert exact.iou[4] == pytest.approx(6 * 6 / 8)


def test_command_imports_neither_torch_nor_mmengine():
    """eval_panoptic.py starts in a fraction of a second: its import path
    (the package, the evaluation functions and the compiled counting
    kernel, built without libtorch) loads neither torch nor mmengine."""
    repo_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    code = ('import sys\n'
            'import runpy\n'
            'sys.argv = ["eval_panoptic.py", "--help"]\n'
            'try:\n'
            '    runpy.run_path("tools/analysis_tools/eval_panoptic.py",\n'
            '                   run_name="__main__")\n'
            'except SystemExit:\n'
            '    pass\n'
            'from mmpanoptic.evaluation.functional import panoptic_png\n'
            'print(sorted(m for m in ("torch", "mmengine", "mmdet")\n'
            '             if m in sys.modules))\n'
            'print(panoptic_png.compiled_counting_available())\n')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            env=dict(os.environ, PYTHONPATH=repo_root),
                            cwd=repo_root)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-2:] == ['[]', 'True']
