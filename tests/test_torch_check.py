"""fusegen refuses to load under a torch other than the one it was built for, with a clear message."""

import pytest
import torch

import fusegen
from fusegen._torch_check import REBUILD, check_torch_version, release


def test_the_installed_build_matches_the_running_torch():
    built = fusegen.build_info()["torch_version"]
    assert release(built) == release(torch.__version__)
    check_torch_version()  # what `import fusegen` ran


def test_another_minor_version_is_a_clear_import_error():
    with pytest.raises(ImportError) as info:
        check_torch_version(installed="2.14.1+cu130", built_for="2.13.0")
    message = str(info.value)
    assert "built for torch 2.13.0 but torch 2.14.1+cu130 is installed" in message and REBUILD in message


def test_patch_releases_and_local_tags_are_compatible():
    check_torch_version(installed="2.13.1+cpu", built_for="2.13.0")
    assert release("2.13.0a0+git1234") == (2, 13)
