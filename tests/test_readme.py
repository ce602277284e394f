"""The README's examples run as written: each ```python block with >>> is a doctest,
run in order with the names of the earlier blocks, as a reader would."""
import doctest
import re
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks():
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"^ *```python\n(.*?)^ *```", text, re.S | re.M)
    return [textwrap.dedent(block) for block in found if ">>>" in block]


def test_readme_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example writes a picture
    examples = blocks()
    assert len(examples) >= 5
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    names = {}
    for number, block in enumerate(examples):
        test = doctest.DocTestParser().get_doctest(block, names, f"README block {number}",
                                                   str(README), 0)
        runner.run(test, clear_globs=False)
        names = test.globs
        assert runner.failures == 0, f"README block {number} failed:\n{block}"
