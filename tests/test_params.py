"""Every paper YAML builds the model it names: the count of the published model (or of SpeechBrain's recipe),
written down once in ``summarymixing.benchmarks.params.PUBLISHED``."""

import pytest

from summarymixing.benchmarks.params import PUBLISHED, format_table, main, rows

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end


@pytest.mark.parametrize("recipe", sorted(PUBLISHED))
def test_every_paper_yaml_has_the_published_parameter_count(recipe):
    table = rows([recipe])
    assert [name for _, name, *_ in table] == [name for name, *_ in PUBLISHED[recipe]]
    for _, name, ours, published, _, stated in table:
        assert ours == published, f"{name}: ours {ours:,} vs the published model's {published:,}"
        if stated is not None:  # the papers round to the million
            assert abs(ours - stated) < 0.5e6 + 0.005 * stated, name


def test_the_table_is_markdown(capsys):
    main(["--recipe", "wav2vec2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "|---|---|---|---|---|---|---|" and len(lines) == 2 + len(PUBLISHED["wav2vec2"])
    assert "| +0 | the published code | 155M (-0.2%) |" in lines[2]
    assert format_table([]).count("\n") == 1
