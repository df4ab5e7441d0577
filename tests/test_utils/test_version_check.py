import pytest

from mmpanoptic.utils.version_check import (SUPPORTED_RANGES,
                                            check_openmmlab_versions,
                                            version_problems)


def test_installed_stack_is_supported():
    check_openmmlab_versions()  # raises if the environment is wrong


GOOD = dict(torch='2.13.0+cpu', mmengine='0.10.7', mmcv='2.1.0', mmdet='3.3.0')


def test_good_versions_have_no_problems():
    assert version_problems(GOOD) == []


def test_message_names_each_wrong_package_and_its_range():
    with pytest.raises(ImportError) as info:
        check_openmmlab_versions(dict(GOOD, mmcv='2.2.0', mmdet=None))
    message = str(info.value)
    assert 'mmcv==2.2.0 is installed; mmpanoptic needs mmcv>=2.1.0,<2.2.0' \
        in message
    assert 'mmdet is not installed; mmpanoptic needs mmdet>=3.3.0,<3.4.0' \
        in message
    assert 'mmengine' not in message.split('\n')[1]  # only wrong ones listed
    assert 'make install' in message


@pytest.mark.parametrize('version', ['0.9.1', '1.0.0'])
def test_mmengine_outside_range(version):
    problems = version_problems(dict(GOOD, mmengine=version))
    low, high = SUPPORTED_RANGES['mmengine']
    assert problems == [
        f'mmengine=={version} is installed; mmpanoptic '
        f'needs mmengine>={low},<{high}.'
    ]


# CUDA and CPU builds, a container's pre-release build of the floor
# (NVIDIA's PyTorch containers ship e.g. 2.0.0a0+fe05266), no maximum
@pytest.mark.parametrize(
    'version',
    ['2.0.0', '2.0.0a0+fe05266', '2.1.2+cu121', '2.13.0+cpu', '3.0.0'])
def test_supported_torch(version):
    assert version_problems(dict(GOOD, torch=version)) == []


@pytest.mark.parametrize('version', ['1.13.1', '1.13.1+cu117'])
def test_torch_below_the_floor(version):
    assert version_problems(dict(GOOD, torch=version)) == [
        f'torch=={version} is installed; mmpanoptic needs torch>=2.0.0.'
    ]


def test_message_without_torch_names_the_gpu_instructions():
    with pytest.raises(ImportError) as info:
        check_openmmlab_versions(dict(GOOD, torch=None))
    message = str(info.value)
    assert 'torch is not installed; mmpanoptic needs torch>=2.0.0.' \
        in message
    assert 'docs/install_gpu.md' in message


def test_pre_release_of_the_excluded_maximum_is_refused():
    assert version_problems(dict(GOOD, mmcv='2.2.0rc1')) == [
        'mmcv==2.2.0rc1 is installed; mmpanoptic needs mmcv>=2.1.0,<2.2.0.'
    ]
