"""Cached machine code loaded with its linking bitcode left unparsed until a compile links it."""

import os
import subprocess
import sys
import textwrap

from graphc.runtime.cpu import cached_library


def test_the_names_round_trip_after_the_pickled_entry():
    body = cached_library.pack(b"pickled entry.", ["_ZN5numba3fooE", "_ZN7cpython3fooE", ".const.x"])
    pickled, symbols = cached_library.unpack(body)
    assert pickled == b"pickled entry."
    assert symbols == {"_ZN5numba3fooE", "_ZN7cpython3fooE", ".const.x"}


def test_a_file_written_without_names_loads_as_numba_wrote_it():
    assert cached_library.unpack(b"pickled entry.") == (b"pickled entry.", None)
    assert cached_library.pack(b"pickled entry.", None) == b"pickled entry."
    entry = (("lib", "object", (b"object code", b"bitcode")), "fndesc")
    assert cached_library.defer_bitcode(entry, None) is entry


SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from graphc.runtime.cpu import cache
    kernel = cache.load_module('''
    from numba import njit
    @njit(cache=True)
    def scale(x, k):
        for i in range(x.size):
            x[i] *= k
    ''')
    x = np.arange(4.0)
    kernel.scale(x, 2.0)
    (library,) = [o.library for o in kernel.scale.overloads.values()]
    print(type(library).__name__)
    if sys.argv[1] == "link":
        # a new function calling the loaded one: Numba links the loaded library's bitcode into it
        caller = cache.load_module('''
    from numba import njit
    from %s import scale
    @njit(cache=True)
    def twice(x):
        scale(x, 3.0)
        scale(x, 0.5)
    ''' % kernel.__name__)
        caller.twice(x)
    print(x.tolist())
    """
)


def test_a_loaded_kernel_links_into_a_new_compile(tmp_path):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "graphc"), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    runs = [
        subprocess.run([sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True)
        for mode in ("fill", "link")
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    (cold_class, cold_x), (warm_class, warm_x) = (run.stdout.split("\n")[:2] for run in runs)
    assert not cold_class.startswith("Lazy")  # compiled in that process
    assert warm_class.startswith("Lazy")  # loaded with its bitcode deferred
    assert cold_x == "[0.0, 2.0, 4.0, 6.0]"
    assert warm_x == "[0.0, 3.0, 6.0, 9.0]"  # scaled by 2, then by 3 and 0.5 in the linked caller
