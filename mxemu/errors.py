"""Typed exceptions: every bad argument or bad file raises a subclass of `MXError`."""


class MXError(Exception):
    """Base class of every error mxemu raises on purpose."""


class SpecError(MXError, ValueError):
    """A format definition is malformed or contradicts the constants the spec states."""


class UnknownNameError(MXError, ValueError):
    """A format, policy preset or option name that mxemu does not know."""


class PolicyError(MXError, ValueError):
    """A `Policy` field has a value outside its closed set."""


class InputError(MXError, TypeError):
    """An argument has the wrong type, dtype or shape."""


class FileFormatError(MXError, ValueError):
    """A file is truncated, corrupt, or carries metadata mxemu cannot accept."""


class BackendError(MXError, RuntimeError):
    """A compute backend (Triton, CUDA) is missing, or cannot run on the given device."""
