"""Every paper YAML builds the published model: the same parameter count as the published configuration."""

import pytest

from summarymixing.benchmarks.params import PAPER_YAMLS, format_table, main, rows


@pytest.mark.parametrize("recipe", sorted(PAPER_YAMLS))
def test_every_paper_yaml_has_the_published_parameter_count(recipe):
    table = rows([recipe])
    assert [name for _, name, *_ in table] == [name for name, _ in PAPER_YAMLS[recipe]]
    for _, name, ours, published, stated in table:
        assert ours == published, f"{name}: ours {ours:,} vs published configuration {published:,}"
        if stated is not None:  # the papers round to the million
            assert abs(ours - stated) < 0.5e6 + 0.005 * stated, name


def test_the_table_is_markdown(capsys):
    main(["--recipe", "wav2vec2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "|---|---|---|---|---|---|" and len(lines) == 2 + len(PAPER_YAMLS["wav2vec2"])
    assert "| +0 | 155M (-0.2%) |" in lines[2]
    assert format_table([]).count("\n") == 1
