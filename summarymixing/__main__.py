"""``python -m summarymixing``: the environment report (versions, compiled pair, devices) for bug reports.

Exits with status 1 when torchaudio does not load with the installed torch.
"""

import sys

from summarymixing.environment import CompiledPairError, check_compiled_pair, report


def main():
    print(report())
    try:
        check_compiled_pair()
    except CompiledPairError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
