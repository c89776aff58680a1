"""Rewrites ``summarymixing/allowed_code.txt``, the callables a run folder's YAML may name, from ``hparams/``.

Run it after adding a YAML that builds a class or calls a function no YAML of ours used before;
``tests/test_run_folder.py`` fails until the list matches ``hparams/``.

    python tools/update_allowed_code.py
"""

import os

from summarymixing.run_folder import ALLOWED_CODE_FILE, derive_allowed_code

HPARAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hparams")
HEADER = (
    "# The tags, with their callables, that a run folder's YAML may use unless --allow-any-code is given: those of\n"
    "# the YAML files in hparams/. Written by tools/update_allowed_code.py; do not edit by hand.\n"
)

if __name__ == "__main__":
    tags = derive_allowed_code(HPARAMS)
    with open(ALLOWED_CODE_FILE, "w", encoding="utf-8") as stream:
        stream.write(HEADER + "".join(f"{tag}\n" for tag in tags))
    print(f"{ALLOWED_CODE_FILE}: {len(tags)} tags")
