import pytest

from mmpanoptic.utils.version_check import (SUPPORTED_RANGES,
                                            check_openmmlab_versions,
                                            version_problems)


def test_installed_stack_is_supported():
    check_openmmlab_versions()  # raises if the environment is wrong


def test_good_versions_have_no_problems():
    assert version_problems(
        dict(mmengine='0.10.7', mmcv='2.1.0', mmdet='3.3.0')) == []


def test_message_names_each_wrong_package_and_its_range():
    with pytest.raises(ImportError) as info:
        check_openmmlab_versions(
            dict(mmengine='0.10.7', mmcv='2.2.0', mmdet=None))
    message = str(info.value)
    assert 'mmcv==2.2.0 is installed; mmpanoptic needs mmcv>=2.1.0,<2.2.0' \
        in message
    assert 'mmdet is not installed; mmpanoptic needs mmdet>=3.3.0,<3.4.0' \
        in message
    assert 'mmengine' not in message.split('\n')[1]  # only wrong ones listed
    assert 'make install' in message


@pytest.mark.parametrize('version', ['0.9.1', '1.0.0'])
def test_mmengine_outside_range(version):
    problems = version_problems(
        dict(mmengine=version, mmcv='2.1.0', mmdet='3.3.0'))
    low, high = SUPPORTED_RANGES['mmengine']
    assert problems == [f'mmengine=={version} is installed; mmpanoptic '
                        f'needs mmengine>={low},<{high}.']
