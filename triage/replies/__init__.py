"""Suggested replies: brand reply libraries (templates, knowledge base), ranking and placeholder filling.

Modules: ``library`` (file format, checks, ``load_library``), ``placeholders`` (``{name}`` and
``[[optional]]`` text), ``similarity`` (embedding and character-trigram scores), ``suggester``
(``ReplySuggester``, ``BrandReplier``, ``ReplyContext``).
"""
