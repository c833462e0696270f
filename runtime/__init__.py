"""Lower and run: ``Session``, ``function``, ``compile`` and one package per device."""

from graphc.runtime.compile import Executable, compile
from graphc.runtime.function import Function, function
from graphc.runtime.session import Session, get_default_session

__all__ = ["Executable", "Function", "Session", "compile", "function", "get_default_session"]
