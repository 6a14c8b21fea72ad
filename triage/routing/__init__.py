"""Routing: brand policies (queues, rules, SLA table, business calendar) and the router that applies them.

Modules: ``policy`` (file format, checks, ``load_policy``), ``conditions`` (what a rule may test),
``safe_regex`` (regexes that cannot backtrack for seconds), ``calendar`` (business hours, Israeli holidays,
open-minute deadlines), ``hide_guard`` (complaint words that stop a hide), ``router`` (``PolicyRouter``,
``BrandRouter``), ``brands`` (load every brand for a classifier), ``check`` (``triage policy check``: a file
beside the brands it joins, and coverage warnings), ``source`` (YAML files whose every failure has a line).
Import from the submodules; this package imports nothing so that ``triage.replies`` can use them freely.
"""
