"""A brand's reply library: templates and knowledge-base answers, loaded and checked once.

Layout: ``data/replies/<library>/templates.yaml`` (required) and ``kb.yaml`` (optional FAQ entries). A
library names the label schema it was written for; every head, label, language and placeholder it uses
is checked when it loads, with the line of each mistake, so nothing fails at request time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from triage.config_source import Issue, Loc, SourceDoc, validate_model
from triage.errors import ConfigError
from triage.replies.placeholders import PLACEHOLDER_NAME, ParsedText, parse_text
from triage.routing.source import read_config
from triage.schema import LabelSchema, check_head_label, suggest_names
from triage.text.keywords import KeywordSet, keyword_pattern
from triage.text.normalise import normalise
from triage.types import LANGUAGES, REDACTED_TYPES

LIBRARY_FORMAT_VERSION = 1
TEMPLATES_FILE = "templates.yaml"
KB_FILE = "kb.yaml"

Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PlaceholderName = Annotated[str, StringConstraints(pattern=f"^{PLACEHOLDER_NAME}$", max_length=40)]

# Placeholders whose value comes from the post itself. Entity ones take the first entity of that type;
# the personal ones (phone, email, ID, card) are never put into a public reply.
AUTHOR_PLACEHOLDERS: frozenset[str] = frozenset({"first_name", "full_name", "handle"})
ENTITY_PLACEHOLDERS: frozenset[str] = frozenset({"order_id", "phone", "email", "il_id", "card", "url"})
PERSONAL_PLACEHOLDERS: frozenset[str] = frozenset(REDACTED_TYPES)

# Second-person singular forms that are gendered in Hebrew (they say "you" to a man or to a woman).
# Hebrew template text must address the customer without them (plural "לכם", infinitive "אפשר לשלוח")
# or give both forms in ``text_f`` / ``text_m``. Forms that are also common third-person or unrelated
# words ("יכול", "שלח", "פנה") are left out so the check never rejects a correct sentence.
GENDERED_HEBREW: tuple[str, ...] = (
    "אתה", "לך", "שלך", "אותך", "אליך", "אלייך", "בשבילך", "ממך", "עליך", "עלייך", "איתך", "אצלך",
    "תוכל", "תוכלי", "תרצה", "תרצי", "שלחי", "כתבי", "התקשרי", "מוזמן", "מוזמנת", "לקוח יקר", "לקוחה יקרה",
    # "You're right" and second-person futures. "תשלח" is also "she will send", and customer-care text
    # writes the passive "will be sent" in full spelling (תישלח), so in a template it addresses the reader.
    "צודק", "צודקת", "תשלח", "תשלחי", "תכתוב", "תכתבי", "תתקשר", "תתקשרי", "תפנה", "תפני", "תצטרך",
    "תצטרכי", "תבדוק", "תבדקי", "תנסה", "תנסי", "תחכה", "תחכי",
)
_GENDERED_RE = re.compile("|".join(keyword_pattern(w) for w in GENDERED_HEBREW))

# Phrases that ask the customer to write to the brand privately. A reply that is itself private (a DM, or
# the one private reply to a public comment) must not ask for that: it reads as if nobody read the post.
PRIVATE_ASKS: dict[str, tuple[str, ...]] = {
    "he": ("הודעה פרטית", "בהודעה פרטית", "בפרטי", "הודעה בפרטי"),
    "en": ("private message", "direct message", "dm", "inbox"),
    "ar": ("رسالة خاصة", "رسالة خاصّة", "الخاص"),
    "ru": ("личное сообщение", "личные сообщения", "в личку", "в директ"),
}
_PRIVATE_ASK_RE = {lang: re.compile("|".join(keyword_pattern(w) for w in words))
                   for lang, words in PRIVATE_ASKS.items()}

# A "phrase" placeholder ({eta}) carries its own preposition ("עד 16:00 היום", "by 4 pm"); a preposition
# written before it in the template doubles up ("עד בהקדם האפשרי", "by as soon as possible").
PREPOSITIONS: dict[str, tuple[str, ...]] = {
    "he": ("עד", "תוך", "לפני", "אחרי", "בתוך", "עוד"),
    "en": ("by", "until", "till", "within", "before", "after", "in", "at", "on"),
    "ar": ("حتى", "خلال", "قبل", "بعد", "في"),
    "ru": ("до", "в", "через", "к", "после"),
}


def _as_list(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    return [value]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class PlaceholderSpec(_Strict):
    """One placeholder templates may use. ``default``: value when nothing else gives one (per language);
    ``fallback``: neutral wording used when there is no value (the name is still reported missing)."""

    description: str = ""
    default: dict[str, str] = Field(default_factory=dict)
    fallback: dict[str, str] = Field(default_factory=dict)
    personal: bool = Field(default=False, description="Personal data: never filled into a public reply.")
    phrase: bool = Field(default=False, description="The value is a whole phrase with its own preposition "
                         "('by 4 pm today'): the text must not put a preposition before it.")


class TemplateSpec(_Strict):
    id: Id
    language: str
    labels: dict[str, list[str]] = Field(default_factory=dict, description="Head -> labels this template fits.")
    queues: list[str] | None = None
    reply_mode: Literal["public", "private", "any"] = "any"
    text: str = Field(min_length=1)
    text_f: str | None = Field(default=None, description="Hebrew: the form addressing a woman.")
    text_m: str | None = Field(default=None, description="Hebrew: the form addressing a man.")
    examples: list[str] = Field(min_length=1, description="Posts this template answers well (for ranking).")
    placeholders: list[PlaceholderName] | None = Field(default=None, description="Declared; must match the text.")
    keywords_any: list[str] | None = Field(default=None, description="Topic words: the template is offered only "
                                           "for posts holding one (matched like policy keywords).")
    sectors: list[str] | None = Field(default=None, description="Offered only to brands of these sectors "
                                      "(the policy's `sector`).")
    note: str = ""

    @field_validator("labels", mode="before")
    @classmethod
    def _label_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _as_list(v) for k, v in value.items()}
        return value

    @field_validator("queues", mode="before")
    @classmethod
    def _queue_list(cls, value: Any) -> Any:
        return _as_list(value)


class KnowledgeBaseUse(_Strict):
    """Which posts get knowledge-base answers, and how similar an answer must be to be offered."""

    labels: dict[str, list[str]] = Field(default_factory=dict)
    min_score: float = Field(default=0.25, ge=-1.0, le=1.0)
    min_score_lexical: float = Field(default=0.15, ge=0.0, le=1.0)

    @field_validator("labels", mode="before")
    @classmethod
    def _label_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _as_list(v) for k, v in value.items()}
        return value


class LibrarySpec(_Strict):
    format_version: int
    library: Name
    schema_name: str = Field(alias="schema")
    description: str = ""
    fallback_language: str | None = Field(
        default=None, description="Offer templates in this language when none exist in the post's language."
    )
    knowledge_base: KnowledgeBaseUse | None = None
    placeholders: dict[PlaceholderName, PlaceholderSpec] = Field(default_factory=dict)
    templates: list[TemplateSpec] = Field(min_length=1)


class KbEntrySpec(_Strict):
    id: Id
    language: str
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list, description="Other ways customers ask it.")
    keywords_any: list[str] | None = Field(default=None, description="Topic words: offered only for posts "
                                           "holding one.")


class KbSpec(_Strict):
    format_version: int
    entries: list[KbEntrySpec] = Field(default_factory=list)


@dataclass(frozen=True)
class Template:
    """A checked template (or knowledge-base answer) ready to rank and fill."""

    id: str
    language: str
    labels: dict[str, list[str]]
    queues: frozenset[str] | None
    reply_mode: str
    text: ParsedText
    variants: dict[str, ParsedText]
    examples: tuple[str, ...]
    source: Literal["template", "knowledge_base"] = "template"
    tags: tuple[str, ...] = ()
    keywords: KeywordSet | None = None
    sectors: frozenset[str] | None = None

    def on_topic(self, folded_text: str) -> bool:
        """True when the template names no topic words or the (normalised, case-folded) post has one."""
        return self.keywords is None or self.keywords.search(folded_text) is not None


@dataclass
class ReplyLibrary:
    """Templates and knowledge-base entries of one library, checked against a schema."""

    name: str
    schema_name: str
    folder: Path
    spec: LibrarySpec
    templates: list[Template]
    kb: list[Template] = field(default_factory=list)

    @property
    def template_ids(self) -> set[str]:
        return {t.id for t in self.templates}

    @property
    def languages(self) -> set[str]:
        return {t.language for t in self.templates}

    def placeholder(self, name: str) -> PlaceholderSpec:
        return self.spec.placeholders.get(name, PlaceholderSpec())


def gendered_forms(text: str) -> list[str]:
    """Gendered Hebrew second-person forms found in ``text``."""
    return [m.group(0) for m in _GENDERED_RE.finditer(normalise(text).text.casefold())]


def private_asks(text: str, language: str) -> list[str]:
    """Phrases in ``text`` that ask the customer to write privately (in ``language``)."""
    rx = _PRIVATE_ASK_RE.get(language)
    return [m.group(0) for m in rx.finditer(normalise(text).text.casefold())] if rx is not None else []


def _doubled_prepositions(parsed: ParsedText, language: str, spec: LibrarySpec) -> list[str]:
    words = PREPOSITIONS.get(language, ())
    found = []
    for before, name in parsed.preceding_text():
        if spec.placeholders.get(name, PlaceholderSpec()).phrase:
            tail = before.casefold().split()
            if tail and tail[-1] in words:
                found.append(f"'{tail[-1]} {{{name}}}'")
    return found


def _keyword_rx(words: list[str] | None, loc: Loc, issues: list[Issue]) -> KeywordSet | None:
    if words is None:
        return None
    if not words or any(not w.strip() for w in words):
        issues.append(Issue(loc, "give at least one non-empty topic word, or leave keywords_any out"))
        return None
    return KeywordSet(words)


def _check_text(
    text: str, language: str, spec: LibrarySpec, loc: Loc, issues: list[Issue], *, neutral_required: bool,
    mode: str = "public",
) -> ParsedText:
    parsed, errors = parse_text(text)
    issues.extend(Issue(loc, e) for e in errors)
    for name in parsed.names:
        if name not in spec.placeholders:
            issues.append(Issue(loc, f"placeholder {{{name}}} is not declared under placeholders: "
                          f"{suggest_names(name, sorted(spec.placeholders))}"))
    for name in parsed.required:
        ph = spec.placeholders.get(name)
        if ph is not None and language not in ph.fallback and language not in ph.default:
            issues.append(Issue(loc, f"{{{name}}} is outside an optional [[...]] clause and has no fallback "
                          f"wording or default in {language!r}: add placeholders.{name}.fallback.{language} or write "
                          "it as [[...]]"))
    if language == "he" and neutral_required:
        found = gendered_forms(text)
        if found:
            issues.append(Issue(loc, f"gendered second-person form(s) {sorted(set(found))}: write gender-neutral "
                          "Hebrew (plural / infinitive) or give text_f and text_m (for 'will be sent' write תישלח)"))
    asks = private_asks(text, language) if mode in ("any", "private", "kb") else []
    if asks:
        fix = ("knowledge-base answers go out in private replies too: reword it" if mode == "kb" else
               "set reply_mode: public and add a private version")
        issues.append(Issue(loc, f"asks for a private message ({', '.join(sorted(set(asks)))}) but can be sent as a "
                      f"private reply: {fix}"))
    for doubled in _doubled_prepositions(parsed, language, spec):
        issues.append(Issue(loc, f"{doubled}: the placeholder is a whole phrase with its own preposition "
                      "('עד 16:00 היום', 'by 4 pm'); drop the preposition before it"))
    return parsed


def _check_labels(labels: dict[str, list[str]], schema: LabelSchema, loc: Loc, issues: list[Issue]) -> None:
    heads = [h.name for h in schema.public_heads]
    for head, values in labels.items():
        if head not in heads:
            issues.append(Issue((*loc, head), f"unknown head {head!r} in schema {schema.name!r} "
                                f"{suggest_names(head, heads)}"))
            continue
        if not values:
            issues.append(Issue((*loc, head), "an empty list never matches"))
        for i, label in enumerate(values):
            msg = check_head_label(schema, head, label)
            if msg:
                issues.append(Issue((*loc, head, i), msg))
                break


def _check_language(language: str, loc: Loc, issues: list[Issue]) -> None:
    if language not in LANGUAGES:
        issues.append(Issue(loc, f"unknown language {language!r} {suggest_names(language, LANGUAGES)}"))


def load_library(folder: Path, schema: LabelSchema, *, queues: Sequence[str] | None = None) -> ReplyLibrary:
    """Load ``folder/templates.yaml`` (+ ``kb.yaml``) and check it against ``schema`` (and ``queues``).

    Raises ConfigError listing every problem as ``file:LINE: path: message``.
    """
    folder = Path(folder)
    if not (folder / TEMPLATES_FILE).is_file():
        raise ConfigError(f"reply library {folder} has no {TEMPLATES_FILE}")
    doc = read_config(folder / TEMPLATES_FILE)
    spec = validate_model(doc, LibrarySpec, "reply library")
    issues: list[Issue] = []
    if spec.format_version != LIBRARY_FORMAT_VERSION:
        issues.append(Issue(("format_version",), f"format_version {spec.format_version} is not supported "
                            f"(expected {LIBRARY_FORMAT_VERSION})"))
    if spec.schema_name != schema.name:
        issues.append(Issue(("schema",), f"the library is written for schema {spec.schema_name!r} but the "
                            f"classifier's schema is {schema.name!r}"))
    if spec.library != folder.name:
        issues.append(Issue(("library",), f"library {spec.library!r} must be named like its folder {folder.name!r}"))
    if spec.fallback_language is not None:
        _check_language(spec.fallback_language, ("fallback_language",), issues)
    if spec.knowledge_base is not None:
        _check_labels(spec.knowledge_base.labels, schema, ("knowledge_base", "labels"), issues)
    for name, ph in spec.placeholders.items():
        for part in ("default", "fallback"):
            for lang in getattr(ph, part):
                _check_language(lang, ("placeholders", name, part, lang), issues)
        if name in PERSONAL_PLACEHOLDERS and not ph.personal:
            issues.append(Issue(("placeholders", name), f"{{{name}}} is personal data: set personal: true"))

    templates: list[Template] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(spec.templates):
        loc: Loc = ("templates", i)
        if t.id in seen:
            issues.append(Issue((*loc, "id"), f"template id {t.id!r} is already used by templates[{seen[t.id]}]"))
        seen[t.id] = i
        templates.append(_check_template(t, spec, schema, queues, loc, issues))
    if issues:
        raise doc.fail(issues, "reply library")

    kb: list[Template] = []
    if (folder / KB_FILE).is_file():
        kb = _load_kb(folder / KB_FILE, spec)
    return ReplyLibrary(spec.library, spec.schema_name, folder, spec, templates, kb)


def _check_template(t: TemplateSpec, spec: LibrarySpec, schema: LabelSchema, queues: Sequence[str] | None, loc: Loc,
                    issues: list[Issue]) -> Template:
    _check_language(t.language, (*loc, "language"), issues)
    _check_labels(t.labels, schema, (*loc, "labels"), issues)
    if queues is not None:
        for j, q in enumerate(t.queues or []):
            if q not in queues:
                issues.append(Issue((*loc, "queues", j), f"unknown queue {q!r} {suggest_names(q, list(queues))}"))
    parsed = _check_text(t.text, t.language, spec, (*loc, "text"), issues, neutral_required=True, mode=t.reply_mode)
    variants: dict[str, ParsedText] = {}
    if (t.text_f is None) != (t.text_m is None):
        issues.append(Issue(loc, "give both text_f and text_m, or neither"))
    for key in ("text_f", "text_m"):
        value = getattr(t, key)
        if value is not None:
            variant = _check_text(value, t.language, spec, (*loc, key), issues, neutral_required=False,
                                  mode=t.reply_mode)
            variants[key.removeprefix("text_")] = variant
            if set(variant.names) != set(parsed.names):
                issues.append(Issue((*loc, key), "uses other placeholders than text"))
    if t.placeholders is not None and set(t.placeholders) != set(parsed.names):
        issues.append(Issue((*loc, "placeholders"), f"declares {sorted(t.placeholders)} but the text uses "
                            f"{sorted(parsed.names)}"))
    for j, example in enumerate(t.examples):
        if not example.strip():
            issues.append(Issue((*loc, "examples", j), "empty example"))
    if t.sectors is not None and not t.sectors:
        issues.append(Issue((*loc, "sectors"), "an empty list never matches; leave sectors out"))
    return Template(
        id=t.id, language=t.language, labels=t.labels, queues=frozenset(t.queues) if t.queues else None,
        reply_mode=t.reply_mode, text=parsed, variants=variants, examples=tuple(t.examples),
        keywords=_keyword_rx(t.keywords_any, (*loc, "keywords_any"), issues),
        sectors=frozenset(t.sectors) if t.sectors else None,
    )


def _load_kb(path: Path, spec: LibrarySpec) -> list[Template]:
    doc: SourceDoc = read_config(path)
    kb_spec = validate_model(doc, KbSpec, "knowledge base")
    issues: list[Issue] = []
    if kb_spec.format_version != LIBRARY_FORMAT_VERSION:
        issues.append(Issue(("format_version",), f"format_version {kb_spec.format_version} is not supported"))
    out: list[Template] = []
    seen: set[str] = set()
    for i, e in enumerate(kb_spec.entries):
        loc: Loc = ("entries", i)
        if e.id in seen:
            issues.append(Issue((*loc, "id"), f"entry id {e.id!r} is used twice"))
        seen.add(e.id)
        _check_language(e.language, (*loc, "language"), issues)
        parsed = _check_text(e.answer, e.language, spec, (*loc, "answer"), issues, neutral_required=True, mode="kb")
        out.append(Template(
            id=e.id, language=e.language, labels={}, queues=None, reply_mode="any", text=parsed, variants={},
            examples=(e.question, *e.examples), source="knowledge_base", tags=tuple(e.tags),
            keywords=_keyword_rx(e.keywords_any, (*loc, "keywords_any"), issues),
        ))
    if issues:
        raise doc.fail(issues, "knowledge base")
    return out
