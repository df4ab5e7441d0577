"""The documentation stays true: every config is listed in its method's
metafile and README, every listed config exists, every script and flag the
docs name exists, and no document speaks of how the project was made."""
import glob
import os.path as osp
import re

import pytest
import yaml

from .conftest import REPO_ROOT

METHOD_DIRS = sorted(
    d for d in glob.glob(osp.join(REPO_ROOT, 'configs', '*'))
    if osp.isdir(d) and not d.endswith('_base_'))
MARKDOWN = sorted(
    glob.glob(osp.join(REPO_ROOT, '*.md')) +
    glob.glob(osp.join(REPO_ROOT, 'docs', '*.md')) +
    glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'README.md')))
CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                           recursive=True))
SHARED_CLI = osp.join(REPO_ROOT, 'mmpanoptic', 'utils', 'config_path.py')
# words that describe the making of the project, not the product
PROCESS_WORDS = re.compile(
    r'\bsessions?\b|\bissues? ?#?\d|\bthe issue\b|\bcommit [0-9a-f]{7,}\b|'
    r'\b[0-9a-f]{7,40}\b(?=\))|work_dirs/(exp|s\d|scratch)|'
    r'fresh clone of|tried and not kept|load average|nothing else running',
    re.IGNORECASE)


def _relative(path):
    return osp.relpath(path, REPO_ROOT)


def _metafile_configs(method_dir):
    with open(osp.join(method_dir, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    return {
        osp.normpath(osp.join(REPO_ROOT, model['Config']))
        for model in meta['Models']
    }


def _readme_configs(method_dir):
    with open(osp.join(method_dir, 'README.md')) as f:
        text = f.read()
    names = re.findall(r'\(([\w.-]+\.py)\)', text)
    return {osp.join(method_dir, name) for name in names}


@pytest.mark.parametrize('method_dir', METHOD_DIRS, ids=_relative)
def test_every_config_is_in_metafile_and_readme(method_dir):
    configs = set(glob.glob(osp.join(method_dir, '*.py')))
    in_meta = _metafile_configs(method_dir)
    in_readme = _readme_configs(method_dir)
    assert configs - in_meta == set(), 'missing from metafile.yml'
    assert configs - in_readme == set(), 'missing from README.md'
    assert {c for c in in_meta | in_readme if not osp.isfile(c)} == set()


def test_model_index_lists_every_metafile():
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        listed = {
            osp.normpath(osp.join(REPO_ROOT, path))
            for path in yaml.safe_load(f)['Import']
        }
    assert listed == {osp.join(d, 'metafile.yml') for d in METHOD_DIRS}


def _script_mentions(text):
    """(script path, flags) of every ``python <script>.py ...`` command and
    every script path in backquotes."""
    found = []
    for line in text.splitlines():
        for match in re.finditer(
                r'(?<![\w/])((?:tools|\.dev_scripts)/[\w/.-]+\.(?:py|sh))'
                r'([^`|]*)',
                line):
            flags = re.findall(r'(?<![\w-])(--[a-z][\w-]*)', match.group(2))
            found.append((match.group(1), flags))
    return found


@pytest.mark.parametrize('path', MARKDOWN, ids=_relative)
def test_scripts_and_flags_named_in_docs_exist(path):
    with open(path) as f:
        text = f.read()
    for script, flags in _script_mentions(text):
        script_path = osp.join(REPO_ROOT, script)
        assert osp.isfile(script_path), f'{script} does not exist'
        with open(script_path) as f:
            source = f.read()
        with open(SHARED_CLI) as f:  # arguments shared by several tools
            source += f.read()
        for flag in flags:
            if script.endswith('.sh'):
                continue  # shell wrappers pass flags on to train/test.py
            assert f"'{flag}'" in source or f'"{flag}"' in source, (
                f'{script} has no {flag}')


@pytest.mark.parametrize('path', MARKDOWN + CONFIGS, ids=_relative)
def test_no_development_history_in_docs_and_configs(path):
    with open(path) as f:
        lines = f.read().splitlines()
    if path.endswith('.py'):  # config comments only
        lines = [line for line in lines if '#' in line]
    found = [line for line in lines if PROCESS_WORDS.search(line)]
    assert found == []
