"""Switch a run config to test-time augmentation (``tools/test.py --tta``).
"""
from mmengine.config import Config, ConfigDict


def use_tta(cfg: Config) -> Config:
    """Wrap ``cfg.model`` in ``cfg.tta_model`` and test on
    ``cfg.tta_pipeline`` (mmdet's ``--tta`` convention).

    Raises:
        KeyError: naming the config file when it defines no TTA: only
            methods whose papers report multi-scale testing have one
            (UPSNet-M configs, AUNet's COCO configs, the synthetic
            UPSNet/AUNet configs).
    """
    missing = [key for key in ('tta_model', 'tta_pipeline') if key not in cfg]
    if missing:
        raise KeyError(
            f'{cfg.filename}: --tta needs {" and ".join(missing)} in the '
            'config; see configs/upsnet/upsnet-m_r50_fpn_8xb2-90k_coco.py for '
            'one (PanopticTTAModel averages semantic logits over scales '
            'and flips)')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    dataset_cfg = cfg.test_dataloader.dataset
    while 'dataset' in dataset_cfg:  # dataset wrappers
        dataset_cfg = dataset_cfg['dataset']
    dataset_cfg.pipeline = cfg.tta_pipeline
    return cfg
