"""Suggested replies: brand reply libraries (templates, knowledge base), ranking and placeholder filling.

Modules: ``library`` (file format, checks, ``load_library``), ``placeholders`` (``{name}`` and
``[[optional]]`` text), ``sanitise`` (author and request values checked before they reach a reply),
``similarity`` (embedding and character-trigram scores), ``suggester`` (``ReplySuggester``,
``BrandReplier``, ``ReplyContext``).
"""
