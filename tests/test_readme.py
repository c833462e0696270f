"""README's Python examples run, in order, as one script."""

import pathlib
import re

import graphc as gc

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    with gc.Graph().as_default():
        exec(compile("\n".join(blocks), str(README), "exec"), {})
    assert capsys.readouterr().out.strip()
