"""``python -m triage`` runs the ``triage`` command, found through its installed entry point.

The command line is a shell around this package (``triage_cli``), so the core names it only through the
package metadata, never by import.
"""

from importlib.metadata import entry_points

(_command,) = entry_points(group="console_scripts", name="triage")
_command.load()()
