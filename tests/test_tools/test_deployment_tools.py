"""tools/deployment/pytorch2onnx.py, the ONNX backend of
tools/demo/image_demo.py, and tools/demo/video_demo.py on a generated
video."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmpanoptic.datasets.synthetic_generator import (SYNTHETIC_METAINFO,
                                                     make_video_frames,
                                                     write_synthetic_video)

from ..conftest import REPO_ROOT, load_script, tiny_synthetic_cfg_options
from ..test_deployment.synthetic_models import (FCN_TEST_CFG,
                                                export_synthetic_fcn,
                                                synthetic_config)

ENV = dict(os.environ, OMP_NUM_THREADS='1')
EXPORT = osp.join(REPO_ROOT, 'tools/deployment/pytorch2onnx.py')


def _run(*args):
    return subprocess.run([sys.executable, *map(str, args)],
                          capture_output=True,
                          text=True,
                          cwd=REPO_ROOT,
                          env=ENV)


def _tiny_config(name, tiny_synthetic, path, **test_cfg):
    cfg = synthetic_config(name, **test_cfg)
    cfg.merge_from_dict(
        tiny_synthetic_cfg_options(tiny_synthetic['root'],
                                   tiny_synthetic['generator']))
    cfg.dump(str(path))
    return cfg


@pytest.fixture(scope='module')
def fcn_files(tiny_synthetic, tmp_path_factory):
    """A config, a checkpoint (random weights with things and stuff) and
    the .onnx file exported from them."""
    out_dir = tmp_path_factory.mktemp('fcn')
    config = out_dir / 'fcn.py'
    cfg = _tiny_config('panoptic-fcn_r18_fpn_1xb4-800i_synthetic',
                       tiny_synthetic, config, **FCN_TEST_CFG)
    checkpoint, onnx_file = export_synthetic_fcn(
        cfg, str(out_dir),
        dict(
            classes=SYNTHETIC_METAINFO['classes'],
            thing_classes=SYNTHETIC_METAINFO['thing_classes']))
    return str(config), checkpoint, onnx_file


def test_pytorch2onnx_panoptic_fcn_verify(fcn_files, tiny_synthetic, tmp_path):
    config, checkpoint, _ = fcn_files
    out = tmp_path / 'fcn.onnx'
    image = osp.join(tiny_synthetic['root'], 'val', '000000.png')
    result = _run(EXPORT, config, checkpoint, '--out', out, '--dynamic',
                  '--verify', '--image', image, '--repeat', 1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.is_file()
    lines = result.stdout
    assert 'PanopticFCN (full) exported' in lines and 'MiB' in lines
    assert 'PyTorch:' in lines and 'ONNX Runtime:' in lines
    assert 'panoptic map: 100.0000 % of pixels equal' in lines
    assert 'verify passed' in lines


def test_pytorch2onnx_upsnet_static_verify(tiny_synthetic, tmp_path):
    """A two-stage model's part, for 128x128 inputs (the 96x112 image is
    padded to it), random weights."""
    config = tmp_path / 'upsnet.py'
    _tiny_config('upsnet_r18_fpn_1xb4-800i_synthetic', tiny_synthetic, config)
    out = tmp_path / 'upsnet.onnx'
    image = osp.join(tiny_synthetic['root'], 'val', '000001.png')
    result = _run(EXPORT, config, '--out', out, '--shape', 128, 128,
                  '--verify', '--image', image, '--repeat', 1)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout
    assert 'UPSNet (features) exported' in lines and '(128, 128)' in lines
    assert 'semantic argmax: 100.0000 % equal' in lines
    assert 'panoptic map from ONNX Runtime features: 100.0000 %' in lines
    assert 'verify passed' in lines


def test_pytorch2onnx_rejects_bad_arguments(tmp_path):
    config = 'panoptic-fcn_r18_fpn_1xb4-800i_synthetic'
    result = _run(EXPORT, config, '--out', tmp_path / 'a.onnx', '--shape', 100,
                  128)
    assert result.returncode == 2 and 'multiples of 32' in result.stderr
    result = _run(EXPORT, config, '--out', tmp_path / 'a.onnx', '--verify')
    assert result.returncode == 2 and '--verify needs --image' in (
        result.stderr)
    result = _run(EXPORT, config, '--out', tmp_path / 'a.pt')
    assert result.returncode == 2 and '.onnx' in result.stderr


def test_image_demo_with_onnx_file(fcn_files, tiny_synthetic, tmp_path):
    _, _, onnx_file = fcn_files
    folder = osp.join(tiny_synthetic['root'], 'val')
    out_dir = tmp_path / 'out'
    result = _run(
        osp.join(REPO_ROOT,
                 'tools/demo/image_demo.py'), folder, '-', '--weights',
        onnx_file, '--backend', 'onnxruntime', '--out-dir', out_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '3 images segmented' in result.stdout
    names = sorted(os.listdir(folder))
    assert sorted(os.listdir(out_dir / 'vis')) == names
    for name in names:
        info = json.loads(
            (out_dir / 'panoptic' / name.replace('.png', '.json')).read_text())
        assert info['segments_info']  # random weights with segments
    result = _run(osp.join(REPO_ROOT, 'tools/demo/image_demo.py'), folder, '-')
    assert result.returncode == 2 and "'-' needs" in result.stderr


def _read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps


def test_synthetic_video_moves_and_is_reproducible(tmp_path):
    frames = make_video_frames(np.random.default_rng(1), 10, 64, 80)
    assert frames.shape == (10, 64, 80, 3) and frames.dtype == np.uint8
    again = make_video_frames(np.random.default_rng(1), 10, 64, 80)
    assert np.array_equal(frames, again)
    # things move: consecutive frames differ, on a part of the image only
    changed = (frames[1:] != frames[:-1]).any(-1).mean(axis=(1, 2))
    assert (changed > 0).all() and (changed < 0.5).all()
    path = write_synthetic_video(str(tmp_path / 'v.mp4'), 10, 64, 80, 8.0)
    read, fps = _read_video(path)
    assert len(read) == 10 and read[0].shape == (64, 80, 3) and fps == 8.0
    with pytest.raises(ValueError, match='num_frames'):
        make_video_frames(np.random.default_rng(0), 0)


def test_video_demo_onnx_on_a_generated_video(fcn_files, tmp_path):
    _, _, onnx_file = fcn_files
    video = write_synthetic_video(
        str(tmp_path / 'in.mp4'), num_frames=10, height=96, width=112)
    out = tmp_path / 'out' / 'overlay.mp4'
    result = _run(
        osp.join(REPO_ROOT, 'tools/demo/video_demo.py'), video, '-', onnx_file,
        '--out', out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '10 frames segmented' in result.stdout
    assert 'frame/s' in result.stderr  # the progress bar
    frames, fps = _read_video(out)
    inputs, _ = _read_video(video)
    assert len(frames) == 10 and fps == 10.0
    assert all(f.shape == (96, 112, 3) for f in frames)
    # overlays drawn: far from the input frames (mp4v is lossy)
    for frame, original in zip(frames, inputs):
        assert np.abs(frame.astype(int) - original).mean() > 5


def test_video_demo_pytorch_frames_and_arguments(fcn_files, tmp_path, capsys):
    from mmpanoptic.apis import PanopticInferencer
    video_demo = load_script('tools/demo/video_demo.py')
    config, checkpoint, _ = fcn_files
    video = write_synthetic_video(
        str(tmp_path / 'in.mp4'), num_frames=10, height=64, width=96)
    inferencer = PanopticInferencer(
        config, checkpoint, device='cpu', show_progress=False)
    capture = cv2.VideoCapture(video)
    out = str(tmp_path / 'out.mp4')
    assert video_demo.segment_video(
        inferencer, capture, out, max_frames=4, progress=False) == 4
    capture.release()
    frames, _ = _read_video(out)
    assert len(frames) == 4 and frames[0].shape == (64, 96, 3)

    args = video_demo.parse_args(['--camera', '0', config, '--show'])
    assert (args.video, args.camera, args.config,
            args.checkpoint) == (None, 0, config, None)
    args = video_demo.parse_args([video, config, checkpoint, '--out', out])
    assert (args.video, args.checkpoint) == (video, checkpoint)
    for argv, message in (([video, config], 'nothing to do'),
                          ([video, config, '--out',
                            'x.avi'], '.mp4'), (['nope.mp4', config,
                                                 '--show'], 'does not exist'),
                          ([video, '-', checkpoint, '--show'], "'-' needs")):
        with pytest.raises(SystemExit):
            video_demo.parse_args(argv)
        assert message in capsys.readouterr().err
