"""Checks, before anything is collected, that torchaudio loads with the installed torch.

When it does not, SpeechBrain and every module built on it fail to import; without this check that reads as
hundreds of collection errors. With it, the run stops at once with one line naming both versions.
"""

import pytest

from summarymixing.environment import CompiledPairError, check_compiled_pair


def pytest_configure(config):
    try:
        check_compiled_pair()
    except CompiledPairError as error:
        pytest.exit(str(error), returncode=pytest.ExitCode.USAGE_ERROR)
