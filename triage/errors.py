"""Exceptions raised by triage.

Tree::

    TriageError                 base of every error triage raises on purpose
    ├── InputError              a post, file or request is unusable (empty, too long, broken encoding...)
    ├── ConfigError             a schema, policy, reply library or settings file is invalid
    ├── ModelArtifactError      a model folder or base-model file is missing, corrupted or mismatched
    │   └── ModelNotInstalledError   no trained model where one was expected
    └── InferenceError          the model failed while scoring; callers must not guess a result

Every error has a stable ``code`` (for APIs and logs) and, for input errors, the offending ``field``.
Messages say what was wrong and how to fix it.
"""

from __future__ import annotations


class TriageError(Exception):
    """Base of every error triage raises on purpose."""

    code = "triage_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.field = field


class InputError(TriageError, ValueError):
    """A post, file or request the caller sent is unusable (empty, too long, broken encoding...)."""

    code = "invalid_input"


class ConfigError(TriageError):
    """A config file (schema, policy, replies, settings) is invalid."""

    code = "invalid_config"


class ModelArtifactError(TriageError):
    """A model artifact or base-model file is missing, corrupted or does not match its manifest."""

    code = "model_artifact"


class ModelNotInstalledError(ModelArtifactError):
    """No trained model is installed where one was expected."""

    code = "model_not_installed"


class InferenceError(TriageError):
    """The model failed while scoring; callers must not guess a result."""

    code = "inference_failed"
