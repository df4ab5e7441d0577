# Runtime for the synthetic configs: iteration-based logging/checkpoints.
_base_ = './default_runtime.py'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=400,
        max_keep_ckpts=2,
        save_last=True))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
# CPU machines: no NCCL
env_cfg = dict(dist_cfg=dict(backend='gloo'))
