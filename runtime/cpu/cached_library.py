"""Machine code loaded from Numba's cache without parsing its linking bitcode until a compile needs it.

Numba saves a compiled function's library as its object code plus the LLVM bitcode of the same
module (the "shared module"), and on every load parses that bitcode (``ll.parse_bitcode``) and walks
its functions and globals for the names it defines. A warm start compiles nothing, and the bitcode
only serves a later compile that links the library into a new function; the names serve the symbol
lookups of the load itself. In a CNN warm start the parse and the walk took 85-105 ms of the ~0.45 s
(bench/NOTES.md, "Warm loads without parsing the linking bitcode").

So the names are written next to the machine code when it is saved (``symbols_of``, ``pack``), and a
load whose file has them (``unpack``, ``defer_bitcode``) makes a library that parses its bitcode on the
first access of its shared module (``_lazy_class``). Files without the names (older ones) and
another Numba whose private codegen differs load the way Numba loads them.
"""

from __future__ import annotations

import struct

import llvmlite.binding as ll
from numba.core import codegen as numba_codegen

#: after the pickled entry: the names, NUL-separated, then this tag and the names' byte length
_TAG = b"graphcsy"
_LENGTH = struct.Struct("<I")
_TRAILER = len(_TAG) + _LENGTH.size


class _DeferredBitcode:
    """A library's linking bitcode, not parsed, with the names its module defines."""

    __slots__ = ("bitcode", "symbols")

    def __init__(self, bitcode: bytes, symbols: frozenset[str]):
        self.bitcode, self.symbols = bitcode, symbols


def symbols_of(compile_result) -> list[str] | None:
    """The names a compiled function's linking module defines (what Numba's
    ``JitEngine._load_defined_symbols`` collects at a load), read from the module in memory."""
    try:
        module = compile_result.library._get_module_for_linking()
        values = [*module.functions, *module.global_variables]
        return [v.name for v in values if not v.is_declaration]
    except Exception:  # noqa: BLE001 - another Numba's library: the file goes without the names
        return None


def pack(pickled: bytes, symbols: list[str] | None) -> bytes:
    """The data file's body: the pickled entry (what Numba's own loader reads: pickle ignores what
    follows its stop code), then the names."""
    if not symbols:
        return pickled
    names = "\0".join(symbols).encode()
    return pickled + names + _TAG + _LENGTH.pack(len(names))


def unpack(body: bytes) -> tuple[bytes, frozenset[str] | None]:
    """The pickled entry and the names ``pack`` wrote (None for a file written without them)."""
    if len(body) < _TRAILER or body[-_TRAILER : -_LENGTH.size] != _TAG:
        return body, None
    (n,) = _LENGTH.unpack(body[-_LENGTH.size :])
    start = len(body) - _TRAILER - n
    if start < 0:
        return body, None
    return body[:start], frozenset(body[start : start + n].decode().split("\0"))


def defer_bitcode(entry, symbols: frozenset[str] | None):
    """``entry`` (a loaded cache entry: the library's serialized form first) with its bitcode left
    unparsed, where the names are known and the codegen can load such a library."""
    if symbols is None or not _INSTALLED or not isinstance(entry, tuple) or not entry:
        return entry
    library = entry[0]
    if not (isinstance(library, tuple) and len(library) == 3 and library[1] == "object"):
        return entry
    name, kind, (object_code, bitcode) = library
    return ((name, kind, (object_code, _DeferredBitcode(bitcode, symbols))), *entry[1:])


_lazy_classes: dict[type, type] = {}


def _lazy_class(cls: type) -> type:
    """``cls`` whose ``_shared_module`` is parsed from the deferred bitcode on first access (Numba reads
    it only to link the library into a new compile, or to serialize it again)."""
    lazy = _lazy_classes.get(cls)
    if lazy is None:

        def get(self):
            module = self.__dict__.get("_shared_module")
            if module is None:
                bitcode = self.__dict__.pop("_deferred_bitcode", None)
                if bitcode is not None:
                    module = self.__dict__["_shared_module"] = ll.parse_bitcode(bitcode)
            return module

        def set_(self, module):
            self.__dict__["_shared_module"] = module

        members = {"_shared_module": property(get, set_)}
        lazy = _lazy_classes[cls] = type(f"Lazy{cls.__name__}", (cls,), members)
    return lazy


def _unserialize(original):
    def unserialize_library(self, serialized):
        name, kind, data = serialized
        deferred = data[1] if kind == "object" else None
        if not isinstance(deferred, _DeferredBitcode):
            return original(self, serialized)
        if not hasattr(self._engine, "_defined_symbols"):  # another engine: Numba's own load
            return original(self, (name, kind, (data[0], deferred.bitcode)))
        # Numba's CPUCodeLibrary._unserialize for object code, with the parse and the walk of the
        # shared module replaced by the deferred bitcode and the names saved with it
        library = self.create_library(name)
        library.__class__ = _lazy_class(type(library))
        library._deferred_bitcode = deferred.bitcode
        library.enable_object_caching()
        library._set_compiled_object(data[0])
        library._finalize_final_module()
        self._engine._defined_symbols |= deferred.symbols
        return library

    unserialize_library.graphc_deferred = True
    return unserialize_library


def _install() -> bool:
    """Patch Numba's JIT codegen to load deferred libraries; False where its private parts differ."""
    codegen = getattr(numba_codegen, "JITCPUCodegen", None)
    library = getattr(numba_codegen, "CPUCodeLibrary", None)
    original = getattr(codegen, "unserialize_library", None)
    if original is None or library is None:
        return False
    if getattr(original, "graphc_deferred", False):
        return True
    library_needs = ("enable_object_caching", "_set_compiled_object", "_finalize_final_module")
    if not hasattr(codegen, "create_library") or not all(hasattr(library, a) for a in library_needs):
        return False
    codegen.unserialize_library = _unserialize(original)
    return True


_INSTALLED = _install()
