"""Export an mmpanoptic model to ONNX and check it in ONNX Runtime.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] \
        --out model.onnx [--shape H W | --dynamic] \
        [--verify --image IMAGE [--repeat 5] [--threads N]]

- Panoptic FCN exports whole: backbone, FPN, heads, peak extraction, stuff
  regions, kernel fusion, mask prediction and maskness rescoring are one
  graph; its outputs are the thing and stuff mask probabilities at 1/4 with
  their labels and scores. The masks' upsampling to the image and the
  panoptic combination run after it, in PyTorch
  (``mmpanoptic.deployment.PanopticFCNComposer``).
- UPSNet, AUNet, Unifying: the graph holds backbone, neck, the RPN head's
  score and box maps and (UPSNet, Unifying) the semantic logits; proposals
  (NMS), the RoI stage and the panoptic heads need mmcv's operators and run
  in PyTorch (see tools/deployment/README.md).

``--shape H W`` exports for inputs padded to exactly H x W; ``--dynamic``
(the default) for any size. Without CHECKPOINT the weights are random (for
timings; seeded, PyTorch's default initialisation). ``--verify`` runs the
exported model in ONNX Runtime and the PyTorch model on IMAGE (prepared by
the config's test pipeline), prints both median run times over ``--repeat``
alternating runs (the image preparation is not timed; Panoptic FCN: the
whole prediction, composition included) and compares the results: Panoptic
FCN's panoptic maps must agree on at least 99.9 % of the pixels and the
thing scores to 1e-3; the two-stage graphs' outputs to 1e-3 of their range,
with the semantic argmax on 99.9 % of the pixels and the panoptic map made
from the ONNX Runtime features on 99.9 %. It exits with status 1 when a
check fails.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time
from typing import Callable, List, Tuple

import torch


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export an mmpanoptic model to ONNX')
    parser.add_argument('config', help='config file or mmpanoptic config name')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        default=None,
        help='checkpoint; without it the weights are random')
    parser.add_argument('--out', required=True, help='the .onnx file')
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='static input size (the padded, preprocessed image)')
    size.add_argument(
        '--dynamic',
        action='store_true',
        help='dynamic input height and width (the default)')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare ONNX Runtime with PyTorch on --image')
    parser.add_argument('--image', help='the image used by --verify')
    parser.add_argument(
        '--repeat',
        type=int,
        default=5,
        help='timed runs of each backend in --verify (median)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='threads of both backends (default: their own defaults)')
    args = parser.parse_args()
    if not args.out.endswith('.onnx'):
        parser.error(f'--out must name an .onnx file, got {args.out!r}')
    if args.shape is not None and (min(args.shape) < 32 or args.shape[0] % 32
                                   or args.shape[1] % 32):
        parser.error('--shape H W must be multiples of 32 (the models pad '
                     f'their input to 32), got {args.shape}')
    if args.verify and args.image is None:
        parser.error('--verify needs --image')
    if args.image is not None and not osp.isfile(args.image):
        parser.error(f'--image {args.image!r} does not exist')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} does not exist')
    if args.repeat < 1:
        parser.error(f'--repeat must be >= 1, got {args.repeat}')
    return args


def median_times(run_a: Callable[[], object], run_b: Callable[[], object],
                 repeat: int) -> Tuple[float, float]:
    """Median wall times of ``repeat`` calls of each, after one untimed call
    of each; the calls alternate (a, b, a, b, ...) so that a change of the
    machine's load hits both alike."""
    run_a()
    run_b()
    times: Tuple[List[float], List[float]] = ([], [])
    for _ in range(repeat):
        for run, kept in zip((run_a, run_b), times):
            start = time.perf_counter()
            run()
            kept.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def prepared_input(inferencer, image: str, shape) -> dict:
    """``image`` through the inferencer's pipeline and the model's data
    preprocessor; padded to ``shape`` for a static graph."""
    from mmpanoptic.deployment.onnxruntime_model import pad_batch
    data = inferencer.collate_fn([inferencer.pipeline(image)])
    data = inferencer.model.data_preprocessor(data, False)
    if shape is not None:
        data['inputs'] = pad_batch(data['inputs'], data['data_samples'], shape)
    return data


def verify_full(args, inferencer, data) -> List[str]:
    """Panoptic FCN: both backends' whole predictions on one image."""
    import copy

    from mmpanoptic.deployment import ONNXRuntimePanopticFCN
    model = inferencer.model
    ort_model = ONNXRuntimePanopticFCN(args.out,
                                       model.cfg.model.data_preprocessor,
                                       args.threads).eval()

    def torch_predict():
        with torch.no_grad():
            return model.predict(data['inputs'],
                                 copy.deepcopy(data['data_samples']))[0]

    def ort_predict():
        return ort_model(data['inputs'],
                         copy.deepcopy(data['data_samples']))[0]

    torch_time, ort_time = median_times(torch_predict, ort_predict,
                                        args.repeat)
    reference, exported = torch_predict(), ort_predict()
    equal = (reference.pred_panoptic_seg.sem_seg ==
             exported.pred_panoptic_seg.sem_seg).float().mean().item()
    ref_scores = reference.pred_instances.scores
    ort_scores = exported.pred_instances.scores
    print(f'image: {args.image}, input {tuple(data["inputs"].shape[-2:])}')
    print(f'PyTorch:      {torch_time * 1000:.1f} ms (median of '
          f'{args.repeat})')
    print(f'ONNX Runtime: {ort_time * 1000:.1f} ms (median of '
          f'{args.repeat}), ratio ONNX Runtime / PyTorch '
          f'{ort_time / torch_time:.3f}')
    print(f'panoptic map: {100 * equal:.4f} % of pixels equal '
          f'({len(torch.unique(reference.pred_panoptic_seg.sem_seg))} '
          'segments in PyTorch\'s)')
    failures = []
    if equal < 0.999:
        failures.append(f'panoptic maps agree on {100 * equal:.4f} % < '
                        '99.9 % of the pixels')
    if len(ref_scores) != len(ort_scores):
        failures.append(f'{len(ref_scores)} things in PyTorch, '
                        f'{len(ort_scores)} in ONNX Runtime')
    else:
        diff = (ref_scores -
                ort_scores).abs().max().item() if len(ref_scores) else 0.0
        print(f'thing scores: {len(ref_scores)} things, largest '
              f'difference {diff:.2e}')
        if diff > 1e-3:
            failures.append(f'thing scores differ by {diff:.2e} > 1e-3')
    return failures


def verify_features(args, inferencer, graph, data) -> List[str]:
    """Two-stage models: the graph's outputs, and the panoptic map made by
    the PyTorch model from ONNX Runtime's features."""
    import copy

    from mmpanoptic.deployment.onnx_export import ort_session
    model = inferencer.model
    session = ort_session(args.out, args.threads)
    image = data['inputs']
    feed = {'image': image.numpy()}

    def torch_graph():
        with torch.no_grad():
            return graph(image)

    torch_time, ort_time = median_times(torch_graph,
                                        lambda: session.run(None, feed),
                                        args.repeat)
    reference = torch_graph()
    exported = [torch.from_numpy(o) for o in session.run(None, feed)]
    print(f'image: {args.image}, input {tuple(image.shape[-2:])}')
    print(f'PyTorch graph part:      {torch_time * 1000:.1f} ms (median of '
          f'{args.repeat})')
    print(f'ONNX Runtime graph part: {ort_time * 1000:.1f} ms (median of '
          f'{args.repeat}), ratio ONNX Runtime / PyTorch '
          f'{ort_time / torch_time:.3f}')
    diffs = {
        name: (ref - out).abs().max().item() /
        ref.abs().max().clamp(min=1e-6).item()
        for name, ref, out in zip(graph.output_names, reference, exported)
    }
    worst = max(diffs, key=diffs.get)
    print(f'{len(diffs)} outputs; largest difference {diffs[worst]:.2e} of '
          f'the output\'s range ({worst})')
    failures = [
        f'{name} differs by {diff:.2e} of its range'
        for name, diff in diffs.items() if diff > 1e-3
    ]
    if graph.with_semantic:
        same = (reference[-1].argmax(1) == exported[-1].argmax(1)).float()
        print(f'semantic argmax: {100 * same.mean().item():.4f} % equal')
        if same.mean().item() < 0.999:
            failures.append('semantic argmax agrees on < 99.9 % of pixels')
    num_levels = len(model.rpn_head.prior_generator.strides)
    ort_feats = tuple(exported[:num_levels])
    with torch.no_grad():
        expected = model.predict(image, copy.deepcopy(
            data['data_samples']))[0].pred_panoptic_seg.sem_seg
        # the rest of the model (in PyTorch) on ONNX Runtime's features
        model.extract_feat = lambda inputs: ort_feats
        try:
            from_ort = model.predict(image, copy.deepcopy(
                data['data_samples']))[0].pred_panoptic_seg.sem_seg
        finally:
            del model.extract_feat
    equal = (expected == from_ort).float().mean().item()
    print(f'panoptic map from ONNX Runtime features: {100 * equal:.4f} % '
          'of pixels equal')
    if equal < 0.999:
        failures.append('the panoptic map from ONNX Runtime features agrees '
                        f'on {100 * equal:.4f} % < 99.9 % of the pixels')
    return failures


def main():
    args = parse_args()
    from mmpanoptic.apis import PanopticInferencer
    from mmpanoptic.deployment import (build_export_graph, export_metadata,
                                       export_onnx)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # random weights (no checkpoint) are reproducible
    inferencer = PanopticInferencer(
        args.config, args.checkpoint, device='cpu', show_progress=False)
    model = inferencer.model.eval()
    graph, kind = build_export_graph(model)
    if args.image is not None:
        example = prepared_input(inferencer, args.image, args.shape)['inputs']
    else:
        height, width = args.shape or (512, 512)
        example = torch.randn(1, 3, height, width)
    metadata = export_metadata(model, graph, kind, model.cfg.pretty_text,
                               dict(model.dataset_meta))
    metadata['input_shape'] = args.shape
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    start = time.perf_counter()
    export_onnx(
        graph,
        example,
        args.out,
        graph.output_names,
        metadata,
        dynamic=args.shape is None)
    size_mb = osp.getsize(args.out) / 2**20
    print(f'{type(model).__name__} ({kind}) exported to {args.out}: '
          f'{size_mb:.1f} MiB, {len(graph.output_names)} outputs, input '
          f'{"dynamic" if args.shape is None else tuple(args.shape)}, '
          f'{time.perf_counter() - start:.1f} s')
    if not args.verify:
        return
    data = prepared_input(inferencer, args.image, args.shape)
    if kind == 'full':
        failures = verify_full(args, inferencer, data)
    else:
        failures = verify_features(args, inferencer, graph, data)
    if failures:
        print('verify FAILED: ' + '; '.join(failures))
        sys.exit(1)
    print('verify passed')


if __name__ == '__main__':
    main()
