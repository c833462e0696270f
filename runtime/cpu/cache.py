"""Generated source on disk: content-hashed module files that Numba can cache machine code for.

``load_module(source)`` writes ``k_<sha256>.py`` under ``GRAPHC_CACHE_DIR`` (default
``~/.cache/graphc``) atomically, registers the module in ``sys.modules`` before executing it (Numba's
``cache=True`` needs an importable module, see NUMBA_NOTES.md), and memoizes it in-process. The name is
a hash of the content, so a changed kernel is a new file and Numba's cache can never serve stale code.
A file whose content does not match its name (corrupt or truncated) is rewritten; a module that fails to
load is rewritten once and loaded again, so a damaged cache costs a recompile, never a wrong result.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pickle
import re
import sys
import tempfile
import threading
from types import ModuleType

import numba
from numba.core.runtime import rtsys
from numba.core.sigutils import normalize_signature

from graphc.runtime.cpu.cached_library import defer_bitcode, pack, symbols_of, unpack

_modules: dict[str, ModuleType] = {}
#: the source of each module ``load_module`` loaded, by name (``source_of``)
_sources: dict[str, str] = {}
_lock = threading.Lock()
#: the bytes of the sha256 after each Numba data file (``_checksum_data_files``)
_DIGEST_SIZE = 32
#: the longest kernel source file name ``write_sources`` writes, less ``.py`` (file systems: 255 bytes)
MAX_FILE_NAME = 120


def _new_lock_in_child() -> None:
    """In a forked child: a thread loading a module in the parent (holding the lock) does not exist
    there, and the child's first load of a new kernel waited for it for good."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _backend_hash(folder: str = os.path.dirname(__file__)) -> str:
    """A hash of the CPU backend's own source files. Generated modules import its helpers (scalar
    functions, the fast exp, the kernels segments call), and Numba's cache knows only the generated
    file: a changed helper must change every generated module's name, so stale machine code is
    never loaded."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


_SALT = f"numba {numba.__version__}\nbackend {_backend_hash()}\n"


def cache_dir() -> str:
    return os.environ.get("GRAPHC_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "graphc")


def module_name(source: str) -> str:
    return "graphc_k_" + hashlib.sha256((_SALT + source).encode()).hexdigest()[:32]


def load_module(source: str) -> ModuleType:
    """Import ``source`` as a module backed by a content-named file (memoized per process)."""
    name = module_name(source)
    module = _modules.get(name)
    if module is not None:
        return module
    with _lock:
        module = _modules.get(name)
        if module is None:
            module = _modules[name] = _import(name, source)
            _sources[name] = source
    return module


def source_of(name: str) -> str | None:
    """The source of generated module ``name`` as ``load_module`` loaded it (None for other modules)."""
    return _sources.get(name)


def _import(name: str, source: str) -> ModuleType:
    directory = cache_dir()
    path = os.path.join(directory, f"{name}.py")
    try:
        os.makedirs(directory, exist_ok=True)
        if not _has_content(path, source):
            _write_atomically(path, source)
    except OSError as e:
        raise OSError(
            e.errno,
            f"the kernel cache {directory} (GRAPHC_CACHE_DIR) cannot hold generated kernels: "
            f"{e.strerror or e}; point GRAPHC_CACHE_DIR at a writable directory",
        ) from None
    try:
        return _exec(name, path, source)
    except Exception:  # noqa: BLE001 - a damaged file or Numba index: rewrite and load once more
        sys.modules.pop(name, None)
        _write_atomically(path, source)
        _clear_numba_index(directory, name)
        return _exec(name, path, source)


def _exec(name: str, path: str, source: str) -> ModuleType:
    """Execute ``source``, the file's checked content, as module ``name`` backed by ``path``. Not the
    loader's ``exec_module``: it runs the file's ``__pycache__`` bytecode, checked against the file's
    mtime and size only, and one bit flipped there (``>`` to ``<`` in a max reduction's loop) made
    ``reduce_max`` return the minimum, Numba compiling the bytecode it was given. Compiling the
    checked source costs ~0.3 ms a module (NUMBA_NOTES.md: Numba caches it as well)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before executing: Numba pickles the module name into its cache index
    exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 - our own generated, checked source
    for value in vars(module).values():
        _guard_numba_cache(value)
    return module


def guard_package(package: str) -> None:
    """Guard the cached Numba functions of the modules loaded from ``package`` (the backend's own
    kernels: their cache files lie in the package's ``__pycache__`` or ``NUMBA_CACHE_DIR``, outside
    ``GRAPHC_CACHE_DIR``, and a damaged one must not fail every later run either).

    Their cache stamps also carry a hash of the package's source files. Numba stamps a function's
    entries with its own file only, but the machine code it caches includes the Numba functions and
    constants the function imports from the package's other files (``conv._conv_forward`` compiles
    ``im2col.pad_image`` into itself): after a change to ``im2col.py`` alone, the cached convolution
    went on running the old ``pad_image``. A changed package now empties every one of these indexes,
    as a changed backend renames every generated module."""
    stamp = f"{package} {_backend_hash(os.path.dirname(sys.modules[package].__file__))}"
    for name, module in list(sys.modules.items()):
        if name.startswith(package + ".") and module is not None:
            for value in list(vars(module).values()):
                _guard_numba_cache(value)
                _stamp_numba_cache(value, stamp)


def _stamp_numba_cache(dispatcher, stamp: str) -> None:
    """Add ``stamp`` to the source stamp Numba's index of ``dispatcher`` is valid for (once: a function
    is found again in every module that imports it)."""
    files = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if files is not None and not getattr(files, "graphc_stamp", None):
        files._source_stamp = (files._source_stamp, stamp)
        files.graphc_stamp = stamp


def _guard_numba_cache(dispatcher) -> None:
    """Numba reads its cache files lazily, at a function's first call for a signature, and a damaged
    file raises there. Wrap that load so that a failure empties the function's index and returns
    nothing, which makes Numba compile afresh (and write new files). Reading every file up front
    instead cost 29-37 ms of each warm start, as Numba then read them all again (bench/NOTES.md).

    An entry whose data file holds another signature's machine code is damaged too. Numba saves an
    entry as two files, the index first, then the data file it names; two processes saving two
    signatures of one function at once can both pick data file 1, and the index keep one's signature
    while the file keeps the other's code (float32 and float64 graphs filling an empty cache, with
    Numba's saves slowed as on a busy disk). Numba does not check, and runs that code on the other
    arguments: every later process failed ("can't unbox array"), and where only the layout differs
    (``gemm``'s C and F operands) the products came out silently wrong.

    The save is wrapped too: a cache that cannot be written (a full disk, a quota) costs the cache,
    not the run, which Numba failed with ``OSError: No space left on device`` although the function
    had compiled. Numba writes the index before the data file, so a failed save may leave an index
    naming a data file that was never written (or an older one): the index goes."""
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "load_overload", None)
    save = getattr(cache, "save_overload", None)
    files = getattr(cache, "_cache_file", None)
    if load is None or save is None or files is None or getattr(load, "guarded", False):
        return  # not a cached Numba function, or one a module imported and another wrapped already

    def load_or_recompile(sig, *args, **kwargs):
        try:
            overload = _load_without_refresh(cache, load, sig, *args, **kwargs)
        except Exception:  # noqa: BLE001 - any unreadable entry: start this function's cache afresh
            _forget_index(files)
            return None
        if overload is not None and tuple(overload.signature.args) != tuple(normalize_signature(sig)[0]):
            _forget_index(files)  # another signature's code under this one's key: as unreadable
            return None
        return overload

    def save_or_go_on(*args, **kwargs):
        # the names its library defines, written after the entry (cached_library)
        files.graphc_symbols = symbols_of(args[1] if len(args) > 1 else kwargs.get("data"))
        try:
            save(*args, **kwargs)
        except OSError:
            _forget_index(files)
        finally:
            files.graphc_symbols = None

    load_or_recompile.guarded = True
    cache.load_overload = load_or_recompile
    cache.save_overload = save_or_go_on
    _checksum_data_files(files)


def _load_without_refresh(cache, numba_load, sig, *args, **kwargs):
    """Numba's ``Cache.load_overload`` without its ``target_context.refresh()``. That refresh imports
    and installs every typing and lowering registry of Numba's (its list, numpy, unicode, random,
    typed containers...), which only compiling needs: a warm start that loads everything from the
    cache paid it at its first load (0.3 s in a bare process, ~0.08 s after graphc's backend imports),
    and compiles nothing. Machine code loaded from the cache needs Numba's runtime (NRT) functions,
    whose initialization is the one part of that refresh kept here; a later compile refreshes the
    context itself (Numba's compiler does so before every compile). Where Numba's private entry
    points differ (another Numba), its own ``load_overload`` serves."""
    load, guard = (
        getattr(cache, "_load_overload", None),
        getattr(cache, "_guard_against_spurious_io_errors", None),
    )
    if load is None or guard is None or kwargs or len(args) != 1:
        return numba_load(sig, *args, **kwargs)
    (target_context,) = args
    rtsys.initialize(target_context)
    with guard():
        return load(sig, target_context)
    return None  # the guard swallowed an I/O error (another process replacing the file): recompile


def _checksum_data_files(files) -> None:
    """Write a sha256 after each of a function's Numba data files (``.nbc``) and check it before the
    file is unpickled. Numba hands a data file's object code to LLVM as it finds it: of 40 single-bit
    flips in a reduction kernel's file, 7 crashed the process (SIGSEGV) and 3 failed LLVM assertions
    (SIGABRT), in that process and every later one, where no exception could be caught. ``pickle``
    ignores bytes after its stop code, so the files stay readable to Numba's own loader."""

    def save_data(name: str, data) -> None:
        data = pack(files._dump(data), getattr(files, "graphc_symbols", None))
        with files._open_for_write(files._data_path(name)) as f:
            f.write(data + hashlib.sha256(data).digest())

    def load_data(name: str):
        with open(files._data_path(name), "rb") as f:
            data = f.read()
        body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
        if hashlib.sha256(body).digest() != digest:
            raise ValueError(f"Numba cache file {name} is damaged: its checksum does not match")
        pickled, symbols = unpack(body)
        # a cache file this function wrote, its checksum checked
        return defer_bitcode(pickle.loads(pickled), symbols)  # noqa: S301

    files._save_data, files._load_data = save_data, load_data


def _forget_index(files) -> None:
    """Empty a Numba function's cache index, or remove it where it cannot be written (a full disk)."""
    try:
        files.flush()
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(files._index_path)


def _has_content(path: str, source: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == source
    except (OSError, UnicodeDecodeError):
        return False


def _write_atomically(path: str, source: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".py", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)  # readers see the old file or the whole new one, never half
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _clear_numba_index(directory: str, name: str) -> None:
    cache = os.path.join(directory, "__pycache__")
    if os.path.isdir(cache):
        for entry in os.listdir(cache):
            if entry.startswith(name):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(cache, entry))


def write_sources(folder: str, sources: dict[str, str]) -> None:
    """Write ``name -> source`` as ``folder/<name>.py`` files (``source_file_name``), each
    atomically: what ``GRAPHC_DUMP`` shows of the generated code."""
    os.makedirs(folder, exist_ok=True)
    for name, source in sources.items():
        _write_atomically(os.path.join(folder, source_file_name(name)), source)


def source_file_name(name: str) -> str:
    """``<name>.py`` with ``/`` (name scopes) as ``__``. A name that is not a plain file name as it is
    (other characters, a leading ``.``, more than ``MAX_FILE_NAME`` characters: deep name scopes
    passed the file system's 255 bytes and failed the compile) is cut to what is plain, with a hash
    of the whole name, so that two names never share a file."""
    stem = name.replace("/", "__")
    plain = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
    if plain != stem or len(stem) > MAX_FILE_NAME or stem.startswith("."):
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        stem = f"{plain[: MAX_FILE_NAME - 13].lstrip('.')}-{digest}"
    return stem + ".py"
