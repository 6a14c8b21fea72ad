"""Routing: brand policies (queues, rules, SLA table, business calendar) and the router that applies them.

Modules: ``policy`` (file format, checks, ``load_policy``), ``conditions`` (what a rule may test),
``calendar`` (business hours, Israeli holidays, open-minute deadlines), ``router`` (``PolicyRouter``,
``BrandRouter``), ``brands`` (load every brand for a classifier), ``source`` (YAML with line numbers).
Import from the submodules; this package imports nothing so that ``triage.replies`` can use them freely.
"""
