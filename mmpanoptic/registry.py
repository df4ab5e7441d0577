"""mmpanoptic's registries: children of mmdet's, so that under
``default_scope='mmpanoptic'`` a config finds mmpanoptic's modules first and
falls back to mmdet's (and, through mmdet, mmengine's). Other packages'
modules are reachable with a scope prefix: ``type='mmseg.LovaszLoss'``.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import \
    WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import Registry

from .utils.checkpoint_safe_globals import allow_mmengine_checkpoint_globals

# every runner, inferencer and model build goes through these registries,
# so mmengine checkpoints load under torch's weights_only default from here
allow_mmengine_checkpoint_globals()

RUNNERS = Registry(
    'runner', parent=MMDET_RUNNERS, locations=['mmpanoptic.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMDET_RUNNER_CONSTRUCTORS,
    locations=['mmpanoptic.engine'])
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['mmpanoptic.engine'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmpanoptic.engine'])

DATASETS = Registry(
    'dataset', parent=MMDET_DATASETS, locations=['mmpanoptic.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMDET_DATA_SAMPLERS,
    locations=['mmpanoptic.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMDET_TRANSFORMS, locations=['mmpanoptic.datasets'])

MODELS = Registry(
    'model',
    parent=MMDET_MODELS,
    locations=['mmpanoptic.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMDET_MODEL_WRAPPERS,
    locations=['mmpanoptic.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMDET_WEIGHT_INITIALIZERS,
    locations=['mmpanoptic.models'])

OPTIMIZERS = Registry(
    'optimizer', parent=MMDET_OPTIMIZERS, locations=['mmpanoptic.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMDET_OPTIM_WRAPPERS,
    locations=['mmpanoptic.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer constructor',
    parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmpanoptic.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMDET_PARAM_SCHEDULERS,
    locations=['mmpanoptic.engine'])

METRICS = Registry(
    'metric',
    parent=MMDET_METRICS,
    locations=['mmpanoptic.evaluation.metrics'])
EVALUATOR = Registry(
    'evaluator',
    parent=MMDET_EVALUATOR,
    locations=['mmpanoptic.evaluation.metrics'])

TASK_UTILS = Registry(
    'task util', parent=MMDET_TASK_UTILS,
    locations=['mmpanoptic.models'])

VISUALIZERS = Registry(
    'visualizer',
    parent=MMDET_VISUALIZERS,
    locations=['mmpanoptic.visualization'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=MMDET_VISBACKENDS,
    locations=['mmpanoptic.visualization'])

LOG_PROCESSORS = Registry(
    'log_processor',
    parent=MMDET_LOG_PROCESSORS,
    locations=['mmpanoptic.engine'])

# mmdet has no registries of these two kinds: ours hang off mmengine's, so
# that lookups under the mmpanoptic scope (the dataloader's collate
# function, inferencers) find a node of the scope.
FUNCTIONS = Registry(
    'function', parent=MMENGINE_FUNCTIONS, locations=['mmpanoptic.datasets'])
INFERENCERS = Registry(
    'inferencer', parent=MMENGINE_INFERENCERS,
    locations=['mmpanoptic.apis'])
